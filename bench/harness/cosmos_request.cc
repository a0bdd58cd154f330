#include "bench/harness/cosmos_request.h"

#include "bench/harness/json_writer.h"

namespace cosmoseal::bench {

bool opSucceeded(Op op, int status) noexcept {
  switch (op) {
    case Op::kCreate: return status == 201;
    case Op::kUpsert: return status == 200 || status == 201;
    default: return status == 200;
  }
}

std::string encodePathSegment(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-_.!~*'();:@&=+$,").find(ch) != std::string_view::npos;
    if (keep) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

CosmosRequestBuilder::CosmosRequestBuilder(const common::SecretBytes& key, RequestTarget target)
    : target_(std::move(target)), mac_(std::make_unique<crypto::HmacSha256>(key)) {
  coll_link_ = "dbs/" + target_.database + "/colls/" + target_.container;
  docs_path_ = "/dbs/" + encodePathSegment(target_.database) + "/colls/" +
               encodePathSegment(target_.container) + "/docs";
  sts_.reserve(256);
}

const std::string& CosmosRequestBuilder::date(int64_t now_unix) {
  if (now_unix != date_second_) {
    date_second_ = now_unix;
    date_ = crypto::formatHttpDate(now_unix);
  }
  return date_;
}

void CosmosRequestBuilder::appendCommon(std::string_view method, std::string_view type,
                                        std::string_view link, int64_t now_unix,
                                        std::string* out) {
  const std::string& d = date(now_unix);
  sts_ = crypto::cosmosStringToSign(method, type, link, d, "");
  out->append("Host: ").append(target_.host_header).append("\r\n");
  out->append("x-ms-version: ").append(target_.api_version).append("\r\n");
  out->append("x-ms-date: ").append(d).append("\r\n");
  out->append("authorization: ")
      .append(crypto::cosmosAuthorizationHeader(mac_->macBase64(sts_)))
      .append("\r\n");
  out->append("Accept: application/json\r\nUser-Agent: cosmoseal-bench/0.1\r\n");
}

void CosmosRequestBuilder::build(Op op, std::string_view id, std::string_view pk,
                                 std::string_view body, int64_t now_unix, std::string* out) {
  std::string_view method;
  bool item_path = false;
  bool has_body = false;
  switch (op) {
    case Op::kRead: method = "GET"; item_path = true; break;
    case Op::kReplace: method = "PUT"; item_path = true; has_body = true; break;
    case Op::kCreate:
    case Op::kUpsert: method = "POST"; has_body = true; break;
    case Op::kQuery: method = "POST"; has_body = true; break;
    case Op::kReadFeed: method = "GET"; break;
    case Op::kCount: return;
  }
  std::string query_body;
  if (op == Op::kQuery) {
    query_body = "{\"query\":";
    appendJsonString(&query_body, target_.query);
    query_body.append(",\"parameters\":[]}");
    body = query_body;
  }

  out->append(method).push_back(' ');
  out->append(docs_path_);
  if (item_path) {
    out->push_back('/');
    out->append(encodePathSegment(id));
  }
  out->append(" HTTP/1.1\r\n");
  if (item_path) {
    std::string link = coll_link_;
    link.append("/docs/").append(id);
    appendCommon(method, "docs", link, now_unix, out);
  } else {
    appendCommon(method, "docs", coll_link_, now_unix, out);
  }
  if (op == Op::kQuery || op == Op::kReadFeed) {
    if (op == Op::kQuery) {
      out->append(
          "x-ms-documentdb-isquery: true\r\n"
          "x-ms-documentdb-query-enablecrosspartition: true\r\n"
          "Content-Type: application/query+json\r\n");
    }
    if (target_.page_size > 0) {
      out->append("x-ms-max-item-count: ").append(std::to_string(target_.page_size)).append("\r\n");
    }
  } else {
    out->append("x-ms-documentdb-partitionkey: [\"").append(pk).append("\"]\r\n");
    if (has_body) out->append("Content-Type: application/json\r\n");
    if (op == Op::kUpsert) out->append("x-ms-documentdb-is-upsert: true\r\n");
  }
  if (has_body) {
    out->append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
    out->append(body);
  } else {
    out->append("\r\n");
  }
}

void CosmosRequestBuilder::buildRaw(std::string_view method, std::string_view encoded_path,
                                    std::string_view type, std::string_view link,
                                    std::string_view extra_headers, std::string_view body,
                                    int64_t now_unix, std::string* out) {
  out->append(method).push_back(' ');
  out->append(encoded_path).append(" HTTP/1.1\r\n");
  appendCommon(method, type, link, now_unix, out);
  out->append(extra_headers);
  if (!body.empty() || method == "POST" || method == "PUT") {
    out->append("Content-Type: application/json\r\n");
    out->append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  out->append("\r\n").append(body);
}

void CosmosRequestBuilder::buildCreateDatabase(int64_t now_unix, std::string* out) {
  std::string body = "{\"id\":";
  appendJsonString(&body, target_.database);
  body.push_back('}');
  buildRaw("POST", "/dbs", "dbs", "", "", body, now_unix, out);
}

void CosmosRequestBuilder::buildCreateContainer(std::string_view pk_path, int64_t now_unix,
                                                std::string* out) {
  std::string body = "{\"id\":";
  appendJsonString(&body, target_.container);
  body.append(",\"partitionKey\":{\"paths\":[");
  appendJsonString(&body, pk_path);
  body.append("],\"kind\":\"Hash\",\"version\":2}}");
  buildRaw("POST", "/dbs/" + encodePathSegment(target_.database) + "/colls", "colls",
           "dbs/" + target_.database, "", body, now_unix, out);
}

}  // namespace cosmoseal::bench
