// Fuzzes the JSON transform engine (policy/json_transform.h). The whole input is used as a body
// for every entry point, with two small fixed policies:
//   R (randomized only): /ssn, /address, /cards/*/number, /m/*/k
//   D (deterministic):   /ssn, /pk (partition key), /address, /cards/*/number
// Invariants (each a COSMOSEAL_RELEASE_ASSERT):
//   * the request validator agrees with simdjson's DOM parser (except on number range, where
//     simdjson refuses valid big numbers);
//   * every successful transform emits valid JSON;
//   * R: decrypt(encrypt(x)) == x byte for byte; every protected location of the stored form holds
//     an envelope that opens with its binding (no plaintext at protected paths);
//   * D: encrypt(decrypt(encrypt(x))) == encrypt(x) (canonical deterministic plaintext);
//   * canary: when every "CANARY" of the input lies inside protected values (checked
//     independently with simdjson's DOM), the stored form contains none;
//   * R: decrypt(encryptPatch(x)) == x, except that a patch condition loses its `--` comments:
//     the query rewriter forwards exactly the text it checked (policy/query/rewriter.h), so the
//     expected output is x with the condition string replaced by the rewritten one (located with
//     simdjson's on-demand parser, not the transformer), and that rewrite is a fixed point;
//   * decryptResponse in every shape never crashes; when it opens nothing its output is its
//     input, and valid JSON in gives valid JSON out.
// Seeds in tests/fuzz/corpus/json_transform/ include responses with valid envelopes sealed under
// the harness's fixed test keys (key "k", material bytes 0x40 + i, id 0x0f0f0001) and bindings
// ("fuzz/r:<path>", "fuzz/d:<path>"), so the decrypt paths are reached too.

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 at -O3 reports a false -Wrestrict inside std::string's inlined copy for `out = "X"` and
// strings built from short literals here (GCC PR 105329); the harness's strings never overlap.
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/assert.h"
#include "crypto/field_cipher.h"
#include "crypto/keyring.h"
#include "crypto/random.h"
#include "policy/json/internal/scan.h"
#include "policy/json/text.h"
#include "policy/json/transformer.h"
#include "policy/policy.h"
#include "policy/query/rewriter.h"

namespace {

using cosmoseal::crypto::FieldCipher;
using cosmoseal::policy::ContainerPolicy;
using cosmoseal::policy::FieldMode;
using cosmoseal::policy::FieldRule;
using cosmoseal::policy::JsonTransformer;
using cosmoseal::policy::PaddedInput;
using cosmoseal::policy::ResponseShape;
using cosmoseal::policy::TransformStats;
namespace internal = cosmoseal::policy::internal;

struct Harness {
  Harness() : rng(7) {
    cosmoseal::crypto::KeyringBuilder b;
    cosmoseal::common::SecretBytes m(cosmoseal::crypto::kDekSize);
    for (size_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<uint8_t>(0x40 + i);
    COSMOSEAL_RELEASE_ASSERT(b.add("k", 1, 0x0f0f0001, std::move(m)).isOk());
    COSMOSEAL_RELEASE_ASSERT(b.setPrimary("k", 1).isOk());
    cipher = std::make_unique<FieldCipher>(*b.build(), &rng);
    tx = std::make_unique<JsonTransformer>(cipher.get());

    std::vector<cosmoseal::policy::ContainerPolicySpec> specs(2);
    auto field = [](const char* path, FieldMode mode) {
      return cosmoseal::policy::FieldSpec{path, mode, "k", {}};
    };
    specs[0].database = "fuzz";
    specs[0].container = "r";
    specs[0].fields = {field("/ssn", FieldMode::kRandomized),
                       field("/address", FieldMode::kRandomized),
                       field("/cards/*/number", FieldMode::kRandomized),
                       field("/m/*/k", FieldMode::kRandomized)};
    specs[1].database = "fuzz";
    specs[1].container = "d";
    specs[1].partition_key_paths = {"/pk"};
    specs[1].fields = {field("/ssn", FieldMode::kDeterministic),
                       field("/pk", FieldMode::kDeterministic),
                       field("/address", FieldMode::kDeterministic),
                       field("/cards/*/number", FieldMode::kDeterministic)};
    auto set = cosmoseal::policy::PolicySet::create(specs);
    COSMOSEAL_RELEASE_ASSERT(set.isOk());
    policies = *set;
    r = policies->find("fuzz", "r");
    d = policies->find("fuzz", "d");
    for (const auto& pk : d->partitionKeyPaths()) pk_rules.push_back(pk.rule);
    COSMOSEAL_RELEASE_ASSERT(dom.allocate(1 << 16, internal::kMaxJsonDepth + 1) ==
                             simdjson::SUCCESS);
  }

  cosmoseal::crypto::SequenceRandomForTest rng;
  std::unique_ptr<FieldCipher> cipher;
  std::unique_ptr<JsonTransformer> tx;
  std::shared_ptr<const cosmoseal::policy::PolicySet> policies;
  const ContainerPolicy* r = nullptr;
  const ContainerPolicy* d = nullptr;
  std::vector<const FieldRule*> pk_rules;
  simdjson::dom::parser dom;
  simdjson::ondemand::parser ondemand;
};

Harness& harness() {
  static Harness* h = new Harness();
  return *h;
}

bool valid(std::string_view s) { return internal::validateJson(s).isOk(); }

size_t countCanary(std::string_view s) {
  size_t n = 0;
  for (size_t at = s.find("CANARY"); at != std::string_view::npos; at = s.find("CANARY", at + 1)) {
    ++n;
  }
  return n;
}

// Independent of the transformer: with simdjson's DOM, counts the canaries inside the values the
// policy protects (top-level members and /cards/*/number; /m/*/k for R). Returns false when the
// check does not apply (escapes, unparsable, not an object).
bool canariesInsideProtected(Harness& h, std::string_view input, bool is_r, size_t* inside) {
  if (input.find('\\') != std::string_view::npos) return false;
  simdjson::padded_string ps(input);
  simdjson::dom::element root;
  if (h.dom.parse(ps).get(root) != simdjson::SUCCESS || !root.is_object()) return false;
  *inside = 0;
  auto count = [&](simdjson::dom::element e) { *inside += countCanary(simdjson::minify(e)); };
  for (auto [key, value] : simdjson::dom::object(root)) {
    if (key == "ssn" || key == "address" || (!is_r && key == "pk")) count(value);
    if (key == "cards" && value.is_array()) {
      for (simdjson::dom::element card : simdjson::dom::array(value)) {
        if (!card.is_object()) continue;
        for (auto [k2, v2] : simdjson::dom::object(card)) {
          if (k2 == "number") count(v2);
        }
      }
    }
    if (is_r && key == "m" && value.is_object()) {
      for (auto [k1, v1] : simdjson::dom::object(value)) {
        (void)k1;
        if (!v1.is_object()) continue;
        for (auto [k2, v2] : simdjson::dom::object(v1)) {
          if (k2 == "k") count(v2);
        }
      }
    }
  }
  return true;
}

void checkCanaries(Harness& h, std::string_view input, std::string_view stored, bool is_r) {
  const size_t total = countCanary(input);
  if (total == 0) return;
  size_t inside = 0;
  if (!canariesInsideProtected(h, input, is_r, &inside)) return;
  if (inside == total) COSMOSEAL_RELEASE_ASSERT(countCanary(stored) == 0);
}

// What decrypt(encryptPatch(input)) must give under policy R for an input encryptPatch accepted:
// the input byte for byte, except that the string token of a top-level "condition" is replaced by
// the canonical JSON string of the rewritten condition when the rewriter changed it (comments
// removed; R has no deterministic field, so no literal is sealed).
std::string expectedPatchRoundTrip(Harness& h, const std::string& input) {
  namespace od = simdjson::ondemand;
  simdjson::padded_string ps(input);
  od::document doc;
  od::object o;
  if (h.ondemand.iterate(ps).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS) {
    return input;  // an array of operations: no condition
  }
  for (auto field_result : o) {
    od::field f;
    std::string_view key;
    COSMOSEAL_RELEASE_ASSERT(std::move(field_result).get(f) == simdjson::SUCCESS);
    COSMOSEAL_RELEASE_ASSERT(f.unescaped_key().get(key) == simdjson::SUCCESS);
    if (key != "condition") continue;
    std::string_view token = f.value().raw_json_token();
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                              token.back() == '\r')) {
      token.remove_suffix(1);
    }
    std::string_view cond;
    COSMOSEAL_RELEASE_ASSERT(f.value().get_string().get(cond) == simdjson::SUCCESS);
    auto rewritten = cosmoseal::policy::rewritePatchCondition(cond, *h.r, *h.cipher);
    COSMOSEAL_RELEASE_ASSERT(rewritten.isOk());
    if (*rewritten == cond) return input;
    // Only removals, and the result is the rewriter's normal form.
    COSMOSEAL_RELEASE_ASSERT(rewritten->size() < cond.size());
    auto again = cosmoseal::policy::rewritePatchCondition(*rewritten, *h.r, *h.cipher);
    COSMOSEAL_RELEASE_ASSERT(again.isOk() && *again == *rewritten);
    const size_t at = static_cast<size_t>(token.data() - ps.data());
    std::string expected = input.substr(0, at);
    cosmoseal::policy::appendCanonicalJsonString(*rewritten, &expected);
    expected.append(input, at + token.size());
    return expected;
  }
  return input;
}

// A body in a buffer with exactly `size` readable bytes, or with padding: both must behave alike.
PaddedInput body(const std::string& s, bool padded) {
  return padded ? PaddedInput::of(s) : PaddedInput::unpadded(s);
}

void decryptAllShapes(Harness& h, const std::string& input) {
  for (const ContainerPolicy* p : {h.r, h.d, static_cast<const ContainerPolicy*>(nullptr)}) {
    for (ResponseShape shape :
         {ResponseShape::kDocument, ResponseShape::kFeed, ResponseShape::kQuery,
          ResponseShape::kBatchResults, ResponseShape::kChangeFeedAllVersions,
          ResponseShape::kAny}) {
      std::string out = "X";
      TransformStats st;
      cosmoseal::common::Status s =
          h.tx->decryptResponse(PaddedInput::unpadded(input), shape, p, &out, &st);
      if (!s.isOk()) {
        COSMOSEAL_RELEASE_ASSERT(out == "X");
        continue;
      }
      const std::string_view result = std::string_view(out).substr(1);
      if (st.decrypted == 0) COSMOSEAL_RELEASE_ASSERT(result == input);
      if (valid(input)) COSMOSEAL_RELEASE_ASSERT(valid(result));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = harness();
  std::string input(reinterpret_cast<const char*>(data), size);
  input.reserve(size + cosmoseal::policy::kJsonPadding);
  const bool padded = size > 0 && (data[0] & 1) != 0;

  // Validator vs simdjson DOM.
  {
    simdjson::padded_string ps(input);
    simdjson::dom::element e;
    const simdjson::error_code err = h.dom.parse(ps).get(e);
    const bool ours = valid(input);
    if (err == simdjson::SUCCESS) COSMOSEAL_RELEASE_ASSERT(ours);
    if (err != simdjson::SUCCESS && err != simdjson::NUMBER_ERROR) {
      COSMOSEAL_RELEASE_ASSERT(!ours);
    }
  }

  // R: byte-exact round trip; no plaintext left at protected paths.
  {
    std::string stored;
    TransformStats st;
    if (h.tx->encryptDocument(body(input, padded), *h.r, &stored, &st).isOk()) {
      COSMOSEAL_RELEASE_ASSERT(valid(stored));
      checkCanaries(h, input, stored, /*is_r=*/true);
      stored.reserve(stored.size() + cosmoseal::policy::kJsonPadding);
      std::string back;
      TransformStats dst;
      COSMOSEAL_RELEASE_ASSERT(h.tx->decryptResponse(PaddedInput::of(stored),
                                                     ResponseShape::kDocument, h.r, &back, &dst)
                                   .isOk());
      COSMOSEAL_RELEASE_ASSERT(back == input);
      COSMOSEAL_RELEASE_ASSERT(dst.plaintext_at_protected == 0);
      COSMOSEAL_RELEASE_ASSERT(dst.decrypted == st.encrypted);
    }
  }

  // D: canonical deterministic plaintext is idempotent.
  {
    std::string e1;
    if (h.tx->encryptDocument(body(input, padded), *h.d, &e1, nullptr).isOk()) {
      COSMOSEAL_RELEASE_ASSERT(valid(e1));
      checkCanaries(h, input, e1, /*is_r=*/false);
      std::string plain, e2;
      TransformStats dst;
      COSMOSEAL_RELEASE_ASSERT(h.tx->decryptResponse(PaddedInput::unpadded(e1),
                                                     ResponseShape::kDocument, h.d, &plain, &dst)
                                   .isOk());
      COSMOSEAL_RELEASE_ASSERT(dst.plaintext_at_protected == 0);
      COSMOSEAL_RELEASE_ASSERT(
          h.tx->encryptDocument(PaddedInput::unpadded(plain), *h.d, &e2, nullptr).isOk());
      COSMOSEAL_RELEASE_ASSERT(e1 == e2);
    }
  }

  // Patch.
  {
    std::string out;
    if (h.tx->encryptPatch(body(input, padded), *h.r, &out, nullptr).isOk()) {
      COSMOSEAL_RELEASE_ASSERT(valid(out));
      std::string back;
      COSMOSEAL_RELEASE_ASSERT(
          h.tx->decryptResponse(PaddedInput::unpadded(out), ResponseShape::kAny, h.r, &back,
                                nullptr)
              .isOk());
      COSMOSEAL_RELEASE_ASSERT(back == expectedPatchRoundTrip(h, input));
    }
    out.clear();
    if (h.tx->encryptPatch(body(input, padded), *h.d, &out, nullptr).isOk()) {
      COSMOSEAL_RELEASE_ASSERT(valid(out));
    }
  }

  // Batch and partition keys.
  {
    std::string out = "X";
    if (h.tx->encryptBatch(body(input, padded), *h.d, h.pk_rules, &out, nullptr).isOk()) {
      COSMOSEAL_RELEASE_ASSERT(valid(std::string_view(out).substr(1)));
    } else {
      COSMOSEAL_RELEASE_ASSERT(out == "X");
    }
    out = "X";
    if (h.tx->encryptPartitionKey(input, h.pk_rules, &out).isOk()) {
      COSMOSEAL_RELEASE_ASSERT(valid(std::string_view(out).substr(1)));
    } else {
      COSMOSEAL_RELEASE_ASSERT(out == "X");
    }
  }

  decryptAllShapes(h, input);
  return 0;
}
