// JSON transform engine cost, each beside a plain simdjson parse of the same bytes.
//
//   taskset -c 0 ./build/bench/bench_transform --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// Goals (issue): (a) encrypt a ~1 KB document with 3 protected fields in <= 2.4 us;
// (b) decrypt a ~64 KB query page of 60 documents x 3 protected fields (180 envelopes) at
// >= 1 GB/s. Documents are realistic (ids, names, nested address, arrays, notes with escapes,
// system properties), generated deterministically, minified as Cosmos returns them.
// Protected: /ssn (deterministic), /email and /creditCard (randomized).

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "crypto/field_cipher.h"
#include "crypto/keyring.h"
#include "policy/json/internal/scan.h"
#include "policy/json/transformer.h"
#include "policy/policy.h"

namespace cosmoseal::policy {
namespace {

// splitmix64: a fixed, seedable stream (the same documents on every run).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  std::string digits(size_t n) {
    std::string d;
    for (size_t i = 0; i < n; ++i) d += static_cast<char>('0' + below(10));
    return d;
  }
};

const char* const kFirst[] = {"Ann", "Bob", "Chloé", "Dmitri", "Eve", "Farah", "Gus", "Hana"};
const char* const kLast[] = {"Smith", "Nguyen", "García", "Okafor", "Müller", "Kowalski"};
const char* const kCity[] = {"Springfield", "Zürich", "São Paulo", "Osaka", "Lagos", "Austin"};
const char* const kTier[] = {"bronze", "silver", "gold", "platinum"};

// One customer document of about `target` bytes (minified).
std::string makeDoc(Rng& r, size_t i, size_t target) {
  const std::string first = kFirst[r.below(8)], last = kLast[r.below(6)];
  std::string d =
      "{\"id\":\"cust-" + std::to_string(100000 + i) + "\",\"partitionKey\":\"tenant-" +
      std::to_string(r.below(50)) + "\",\"type\":\"customer\",\"firstName\":\"" + first +
      "\",\"lastName\":\"" + last + "\",\"email\":\"" + first + "." + last + std::to_string(i) +
      "@example.com\",\"ssn\":\"" + r.digits(3) + "-" + r.digits(2) + "-" + r.digits(4) +
      "\",\"creditCard\":\"4" + r.digits(15) + "\",\"phone\":\"+1-555-" + r.digits(3) + "-" +
      r.digits(4) + "\",\"dateOfBirth\":\"19" + r.digits(2) + "-0" +
      std::to_string(1 + r.below(9)) + "-1" + std::to_string(r.below(10)) +
      "\",\"address\":{\"street\":\"" + std::to_string(1 + r.below(9999)) +
      " Main Street\",\"city\":\"" + kCity[r.below(6)] + "\",\"state\":\"MA\",\"zip\":\"0" +
      r.digits(4) + "\",\"country\":\"US\",\"geo\":{\"lat\":42." + r.digits(6) + ",\"lon\":-71." +
      r.digits(6) + "}},\"loyalty\":{\"tier\":\"" + kTier[r.below(4)] +
      "\",\"points\":" + std::to_string(r.below(100000)) + ",\"since\":\"2019-04-0" +
      std::to_string(1 + r.below(9)) + "\"},\"tags\":[\"vip\",\"newsletter\",\"" + "segment-" +
      std::to_string(r.below(20)) + "\"],\"active\":" + (r.below(2) ? "true" : "false") +
      ",\"balance\":" + std::to_string(r.below(9999)) + "." + r.digits(2) +
      ",\"notes\":\"Called on Monday: \\\"please update\\\"\\n";
  // Pad the notes to reach the target size, then close with system properties.
  const std::string tail =
      "\",\"_rid\":\"Zk1wAKa3bQcBAAAAAAAAAA==\",\"_self\":\"dbs/Zk1wAA==/colls/"
      "Zk1wAKa3bQc=/docs/Zk1wAKa3bQcBAAAAAAAAAA==/\",\"_etag\":\"\\\"0000" +
      r.digits(4) +
      "-0000-0100-0000-65a1b2c30000\\\"\",\"_attachments\":"
      "\"attachments/\",\"_ts\":17000" +
      r.digits(5) + "}";
  static const char kWords[] = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do ";
  while (d.size() + tail.size() < target) d += kWords[r.below(sizeof(kWords) - 1)];
  return d + tail;
}

std::shared_ptr<const crypto::Keyring> benchKeyring() {
  crypto::KeyringBuilder b;
  common::SecretBytes dek(crypto::kDekSize);
  for (size_t i = 0; i < dek.size(); ++i) dek.data()[i] = static_cast<uint8_t>(i * 13 + 1);
  (void)b.add("pii", 1, 0x5eed0001, std::move(dek));
  (void)b.setPrimary("pii", 1);
  return *b.build();
}

std::shared_ptr<const PolicySet> benchPolicy(bool all_randomized) {
  ContainerPolicySpec spec;
  spec.database = "shop";
  spec.container = "customers";
  const FieldMode ssn_mode = all_randomized ? FieldMode::kRandomized : FieldMode::kDeterministic;
  spec.fields = {FieldSpec{"/ssn", ssn_mode, "pii", {}},
                 FieldSpec{"/email", FieldMode::kRandomized, "pii", {}},
                 FieldSpec{"/creditCard", FieldMode::kRandomized, "pii", {}}};
  std::vector<ContainerPolicySpec> specs = {spec};
  return *PolicySet::create(specs);
}

struct Fixture {
  explicit Fixture(bool all_randomized)
      : policies(benchPolicy(all_randomized)),
        policy(*policies->find("shop", "customers")),
        cipher(benchKeyring()),
        tx(&cipher) {
    Rng r{42};
    doc = makeDoc(r, 1, 1024);
    doc.reserve(doc.size() + kJsonPadding);
    std::string plain_page = "{\"_rid\":\"Zk1wAKa3bQc=\",\"Documents\":[";
    std::string page_docs;
    for (size_t i = 0; i < 60; ++i) {
      std::string d = makeDoc(r, i, 880);
      std::string sealed;
      if (!tx.encryptDocument(PaddedInput::unpadded(d), policy, &sealed, nullptr).isOk()) abort();
      if (i) {
        plain_page += ',';
        page_docs += ',';
      }
      plain_page += d;
      page_docs += sealed;
    }
    plain_page += "],\"_count\":60}";
    page = "{\"_rid\":\"Zk1wAKa3bQc=\",\"Documents\":[" + page_docs + "],\"_count\":60}";
    page.reserve(page.size() + kJsonPadding);
    plain = plain_page;
    if (!tx.encryptDocument(PaddedInput::of(doc), policy, &sealed_doc, nullptr).isOk()) abort();
    sealed_doc.reserve(sealed_doc.size() + kJsonPadding);
  }
  std::shared_ptr<const PolicySet> policies;
  const ContainerPolicy& policy;
  crypto::FieldCipher cipher;
  JsonTransformer tx;
  std::string doc, sealed_doc, page, plain;
};

Fixture& fixture(bool all_randomized = false) {
  static Fixture mixed(false), randomized(true);
  return all_randomized ? randomized : mixed;
}

// (a) ---------------------------------------------------------------------------------------

void BM_EncryptDocument1K(benchmark::State& state) {
  Fixture& f = fixture(state.range(0) != 0);
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    if (!f.tx.encryptDocument(PaddedInput::of(f.doc), f.policy, &out, nullptr).isOk()) abort();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.doc.size()));
  state.counters["doc_bytes"] = static_cast<double>(f.doc.size());
}
BENCHMARK(BM_EncryptDocument1K)->ArgName("all_randomized")->Arg(0)->Arg(1);

// The crypto floor of (a): the three FieldCipher::seal calls the transform makes (same tokens,
// same rules and bindings, same order), nothing else.
void BM_SealDocumentFieldsOnly(benchmark::State& state) {
  Fixture& f = fixture(state.range(0) != 0);
  struct Field {
    const FieldRule* rule;
    std::string token;
  };
  std::vector<Field> fields;
  for (std::string_view name : {"email", "ssn", "creditCard"}) {
    // append, not "\"" + std::string(name): GCC 12 -O3 reports a false -Wrestrict for that.
    const std::string key = std::string("\"").append(name) + "\":";
    const size_t b = f.doc.find(key) + key.size();
    const size_t e = f.doc.find('"', b + 1) + 1;
    std::vector<std::string_view> path = {name};
    fields.push_back(Field{f.policy.matchPath(path), f.doc.substr(b, e - b)});
  }
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    for (const Field& fl : fields) {
      const crypto::Mode mode = fl.rule->mode == FieldMode::kDeterministic
                                    ? crypto::Mode::kDeterministic
                                    : crypto::Mode::kRandomized;
      if (!f.cipher
               .seal(mode, fl.rule->key, fl.rule->binding, crypto::ValueType::kString, fl.token,
                     &out)
               .isOk()) {
        abort();
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SealDocumentFieldsOnly)->ArgName("all_randomized")->Arg(0)->Arg(1);

void BM_SimdjsonDomParse1K(benchmark::State& state) {
  Fixture& f = fixture();
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element e;
    if (parser.parse(f.doc.data(), f.doc.size(), false).get(e)) abort();
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.doc.size()));
}
BENCHMARK(BM_SimdjsonDomParse1K);

// Components of (a): the strict validator every request body goes through, and simdjson's
// on-demand stage 1 (what the locate walk starts with).
void BM_ValidateJson1K(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    if (!internal::validateJson(f.doc).isOk()) abort();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.doc.size()));
}
BENCHMARK(BM_ValidateJson1K);

void BM_OndemandIterate1K(benchmark::State& state) {
  Fixture& f = fixture();
  simdjson::ondemand::parser parser;
  for (auto _ : state) {
    simdjson::ondemand::document doc;
    if (parser.iterate(f.doc.data(), f.doc.size(), f.doc.capacity()).get(doc)) abort();
    simdjson::ondemand::object o;
    if (doc.get_object().get(o)) abort();
    size_t n = 0;
    for (auto field : o) {
      simdjson::ondemand::field fl;
      if (std::move(field).get(fl)) abort();
      benchmark::DoNotOptimize(fl.key().raw());
      ++n;
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.doc.size()));
}
BENCHMARK(BM_OndemandIterate1K);

void BM_DecryptDocument1K(benchmark::State& state) {
  Fixture& f = fixture();
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    if (!f.tx.decryptResponse(PaddedInput::of(f.sealed_doc), ResponseShape::kDocument, &f.policy,
                              &out, nullptr)
             .isOk()) {
      abort();
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.sealed_doc.size()));
}
BENCHMARK(BM_DecryptDocument1K);

// (b) ---------------------------------------------------------------------------------------

void decryptPage(benchmark::State& state, ResponseShape shape) {
  Fixture& f = fixture(state.range(0) != 0);
  std::string out;
  out.reserve(f.page.size());
  for (auto _ : state) {
    out.clear();
    if (!f.tx.decryptResponse(PaddedInput::of(f.page), shape, &f.policy, &out, nullptr).isOk()) {
      abort();
    }
    benchmark::DoNotOptimize(out.data());
  }
  if (out != f.plain) abort();  // checked once, after timing
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.page.size()));
  state.counters["page_bytes"] = static_cast<double>(f.page.size());
}

void BM_DecryptQueryPage64K(benchmark::State& state) { decryptPage(state, ResponseShape::kQuery); }
BENCHMARK(BM_DecryptQueryPage64K)->ArgName("all_randomized")->Arg(0)->Arg(1);

void BM_DecryptFeedPage64K(benchmark::State& state) { decryptPage(state, ResponseShape::kFeed); }
BENCHMARK(BM_DecryptFeedPage64K)->ArgName("all_randomized")->Arg(0)->Arg(1);

// The crypto floor of (b): FieldCipher::open on the page's 180 envelopes, nothing else.
void BM_OpenPageEnvelopesOnly(benchmark::State& state) {
  Fixture& f = fixture(state.range(0) != 0);
  std::vector<internal::EnvelopeString> hits;
  internal::findEnvelopeStrings(f.page, &hits);
  std::vector<std::string_view> envs;
  for (const auto& h : hits)
    envs.push_back(std::string_view(f.page).substr(h.begin + 1, h.end - h.begin - 2));
  std::string out;
  out.reserve(f.page.size());
  for (auto _ : state) {
    out.clear();
    for (std::string_view e : envs) {
      if (!f.cipher.open(e, nullptr, &out).isOk()) abort();
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.page.size()));
}
BENCHMARK(BM_OpenPageEnvelopesOnly)->ArgName("all_randomized")->Arg(0)->Arg(1);

void BM_ScanEnvelopes64K(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<internal::EnvelopeString> hits;
  for (auto _ : state) {
    hits.clear();
    internal::findEnvelopeStrings(f.page, &hits);
    if (hits.size() != 180) abort();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.page.size()));
}
BENCHMARK(BM_ScanEnvelopes64K);

void BM_SimdjsonDomParse64K(benchmark::State& state) {
  Fixture& f = fixture();
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element e;
    if (parser.parse(f.page.data(), f.page.size(), false).get(e)) abort();
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.page.size()));
}
BENCHMARK(BM_SimdjsonDomParse64K);

}  // namespace
}  // namespace cosmoseal::policy

BENCHMARK_MAIN();
