#pragma once

// CosmosRequestBuilder: renders complete, signed Cosmos DB gateway requests (HTTP/1.1 head +
// body) as the SDKs send them (ref/cosmos-protocol.md §1, §3):
//
//   * Authorization: master-key signature over (verb, resourceType, resourceLink, x-ms-date)
//     made with crypto::cosmosStringToSign + HmacSha256 — the same code the proxy verifies with;
//   * a fresh x-ms-date (RFC 1123, cached per second), x-ms-version, Accept, User-Agent;
//   * per operation: x-ms-documentdb-partitionkey (JSON array), Content-Type, the upsert flag,
//     x-ms-documentdb-isquery + application/query+json + enable-crosspartition for queries,
//     x-ms-max-item-count for queries and read feeds.
//
// Paths are built from raw names, percent-encoded like the JS SDK's encodeURI (so ids with
// spaces or non-ASCII work), and signed over the raw (decoded) link.
//
// Not thread-safe (holds an HMAC context and a date cache): one builder per thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "crypto/cosmos_auth.h"

namespace cosmoseal::bench {

enum class Op : uint8_t { kRead, kCreate, kUpsert, kReplace, kQuery, kReadFeed, kCount };

inline constexpr const char* kOpNames[] = {"read", "create", "upsert", "replace", "query",
                                           "readfeed"};
inline const char* opName(Op op) { return kOpNames[static_cast<int>(op)]; }
// The status a successful response to `op` has (upsert: 200 or 201 both count).
bool opSucceeded(Op op, int status) noexcept;

struct RequestTarget {
  std::string host_header;  // "127.0.0.1:8081"
  std::string database = "bench";
  std::string container = "items";
  std::string api_version = "2018-12-31";
  std::string query = "SELECT * FROM c";
  int page_size = 60;       // x-ms-max-item-count for query/readfeed (<= 0: header omitted)
};

class CosmosRequestBuilder {
 public:
  // `key` is the signing key (a cosmoseal client key, or an account key for a real account).
  CosmosRequestBuilder(const common::SecretBytes& key, RequestTarget target);

  const RequestTarget& target() const noexcept { return target_; }

  // Appends one complete request to *out. `id` / `pk` address the document (read, replace) or
  // are ignored (query, readfeed); `body` is the document for create/upsert/replace.
  void build(Op op, std::string_view id, std::string_view pk, std::string_view body,
             int64_t now_unix, std::string* out);

  // Setup requests.
  void buildCreateDatabase(int64_t now_unix, std::string* out);
  void buildCreateContainer(std::string_view pk_path, int64_t now_unix, std::string* out);
  // Any signed request (e.g. GET /): method, path (already encoded), resource type and link.
  void buildRaw(std::string_view method, std::string_view encoded_path, std::string_view type,
                std::string_view link, std::string_view extra_headers, std::string_view body,
                int64_t now_unix, std::string* out);

  bool ok() const noexcept { return mac_ != nullptr && mac_->ok(); }

 private:
  const std::string& date(int64_t now_unix);
  void appendCommon(std::string_view method, std::string_view type, std::string_view link,
                    int64_t now_unix, std::string* out);

  RequestTarget target_;
  std::unique_ptr<crypto::HmacSha256> mac_;
  std::string coll_link_;   // dbs/{db}/colls/{c} (raw)
  std::string docs_path_;   // /dbs/{db}/colls/{c}/docs (encoded)
  int64_t date_second_ = -1;
  std::string date_;
  std::string sts_;         // scratch
};

// Percent-encodes a path segment like JS encodeURIComponent, except that it keeps the characters
// encodeURI keeps ("," ";" "=" "@" "$" "&" "+" ":" "!" "'" "(" ")" "*" "~" "-" "_" ".").
std::string encodePathSegment(std::string_view raw);

}  // namespace cosmoseal::bench
