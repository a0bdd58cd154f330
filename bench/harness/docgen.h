#pragma once

// DocumentGenerator: deterministic, realistic-looking JSON documents for load tests.
//
// Each document is a minified JSON object (as Cosmos returns them) shaped like a customer record:
//
//   {"id":"d0000000042","pk":"p07","type":"customer",
//    "ssn":"...","email":"...","creditCard":"...",          <- the "protected-looking" fields
//    "firstName":"Zoë","lastName":"O'Brien","age":41,"active":true,"score":0.8731,
//    "address":{"street":"...","city":"Zürich","zip":"8001","country":"CH",
//               "geo":{"lat":47.3769,"lon":8.5417}},
//    "loyalty":{"tier":"gold","points":12345,"since":"2019-04-01","optIn":null},
//    "tags":["vip","eu"],"orders":[{"sku":"SKU-1042","qty":2,"price":19.99,"gift":false},...],
//    "notes":"He said \"hi\"\n... 日本語 ✓ ..."}
//
// Strings carry non-ASCII UTF-8, JSON escapes (\" \n \\ \u00e9) and numbers of several spellings
// (integers, decimals, negative, exponent), so a proxy's JSON path sees what real apps send.
//
// * The protected-looking fields are top-level strings, taken in order from
//   protectedFieldNames() (ssn, email, creditCard, phone, dateOfBirth, iban, passportNumber,
//   taxId, then secret9, secret10, ...): a policy with paths /ssn, /email, /creditCard
//   protects exactly the first three.
// * Size: orders are added and `notes` is padded so the document is `target_bytes` long (exactly,
//   unless the fixed part alone is longer, which happens below about 600 bytes).
// * Deterministic: the same (seed, index, id) always gives the same bytes. Different indexes give
//   different values, so deterministic encryption sees distinct plaintexts.
//
// Thread-safe (const methods only, no shared state).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cosmoseal::bench {

struct DocSpec {
  size_t target_bytes = 1024;
  int protected_fields = 3;
  std::string pk_field = "pk";  // top-level partition-key property name (without '/')
  int partitions = 16;          // distinct partition-key values "p00".."p15"
  uint64_t seed = 42;
};

class DocumentGenerator {
 public:
  explicit DocumentGenerator(DocSpec spec) : spec_(std::move(spec)) {}

  const DocSpec& spec() const noexcept { return spec_; }

  // The document for `index` with the given id (ids are chosen by the caller).
  std::string make(uint64_t index, std::string_view id) const;

  // Partition-key value of document `index` (JSON string contents, no quotes): "p07".
  std::string partitionKey(uint64_t index) const;

  // The names of the protected-looking fields, in order (first `n`).
  static std::vector<std::string> protectedFieldNames(int n);

 private:
  DocSpec spec_;
};

// Small deterministic PRNG (splitmix64): seedable, fast, good enough for workload choices.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0; the modulo bias is irrelevant for n << 2^64).
  uint64_t below(uint64_t n) noexcept { return next() % n; }
  // Uniform in [0, 1).
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace cosmoseal::bench
