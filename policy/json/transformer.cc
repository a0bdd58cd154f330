#include "policy/json/transformer.h"

// The shared engine: call setup and cleanup, input padding, member names and raw values,
// sealing, the lookalike check and the splice (policy/json/internal/engine.h), plus the public
// JsonTransformer entry points. The body kinds live in document.cc, patch.cc, batch.cc,
// partition_key.cc and response.cc.

#include "common/secret_bytes.h"
#include "policy/json/details.h"
#include "policy/json/internal/engine.h"
#include "policy/json/text.h"

namespace cosmoseal::policy {

namespace jd = json_detail;

using common::Status;

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING,
              "kJsonPadding must cover simdjson's padding");

namespace internal {

std::string squote(std::string_view s) {
  std::string out = "'";
  // Names in messages come from the client; keep them short and printable.
  for (char c : s.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  if (s.size() > 64) out += "...";
  out += "'";
  return out;
}

namespace {

crypto::Mode cipherMode(FieldMode m) noexcept {
  return m == FieldMode::kDeterministic ? crypto::Mode::kDeterministic : crypto::Mode::kRandomized;
}

}  // namespace

// Overwrites every byte a scratch string may have held (up to `bound`, at least its size) and
// empties it. Resizing within capacity never reallocates, so no copy is left behind.
void wipe(std::string* s, size_t bound) noexcept {
  const size_t n = std::max(s->size(), std::min(bound, s->capacity()));
  if (n == 0) return;
  s->resize(n);
  common::secureZero(s->data(), n);
  s->clear();
}

void TransformEngine::endCall() noexcept {
  if (padded_used != 0) {
    common::secureZero(padded.data(), padded_used);
    padded_used = 0;
  }
  if (pk_used != 0) {
    common::secureZero(pk_buf.data(), pk_used);
    pk_used = 0;
  }
  for (std::string& s : arena) wipe(&s, s.capacity());
  arena.clear();
  wipe(&pk_text, 0);
  wipe(&pk_out, 0);
  edits.clear();
  found.clear();
  prot.clear();
  hits.clear();
  patch_ops.clear();
  batch_ops.clear();
  repl.clear();
  pk_repl.clear();
  pk_edits.clear();
  pk_found.clear();
  keyset_depth = 0;
  base = nullptr;
  size = cap = 0;
  policy = nullptr;
}

Status TransformEngine::parseError(simdjson::error_code e) const {
  if (response) {
    return Status(Code::kBadGateway, jd::kBadResponse,
                  std::string("the upstream response is not JSON the decryptor can follow (") +
                      simdjson::error_message(e) + ")");
  }
  return invalidArgument(jd::kBadJson, std::string("unexpected JSON parser error (") +
                                           simdjson::error_message(e) + ")");
}

void TransformEngine::setInput(PaddedInput in) {
  size = in.size;
  if (in.data != nullptr && in.capacity >= in.size + kJsonPadding) {
    base = in.data;
    cap = in.capacity;
    return;
  }
  if (padded.size() < in.size + kJsonPadding) padded.resize(in.size + kJsonPadding);
  // in.data is non-null whenever in.size is not 0 (the analyzer cannot see that invariant).
  // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
  if (in.size != 0) std::memcpy(padded.data(), in.data, in.size);
  padded_used = in.size;
  base = padded.data();
  cap = padded.size();
}

Status TransformEngine::beginRequest(PaddedInput in, const ContainerPolicy* p,
                                     const MixedData* mixed_data) {
  response = false;
  policy = p;
  mixed = mixed_data;
  stats = TransformStats{};
  setInput(in);
  return internal::validateJson(std::string_view(base, size));
}

uint32_t TransformEngine::keyIdFor(const FieldRule& rule) {
  if (!last_key_valid || last_key_name != rule.key) {
    const crypto::KeyVersion* kv = cipher->keyring()->primary(rule.key);
    last_key_id = kv != nullptr ? kv->id : 0;
    last_key_name = rule.key;
    last_key_valid = true;
  }
  return last_key_id;
}

// Unescapes a string token (with quotes) into a fresh arena string (names, paths, conditions).
Status TransformEngine::arenaUnescape(std::string_view token, std::string_view* out) {
  std::string& s = arena.emplace_back();
  s.reserve(token.size());
  COSMOSEAL_RETURN_IF_ERROR(unescapeJsonString(token, &s));
  *out = s;
  return Status::ok();
}

// A JSON string value, unescaped (views into the body when there is nothing to unescape).
Status TransformEngine::stringValue(od::value v, std::string_view* out) {
  const std::string_view tok = trimWs(v.raw_json_token());
  if (tok.find('\\') == std::string_view::npos) {
    *out = tok.substr(1, tok.size() - 2);
    return Status::ok();
  }
  return arenaUnescape(tok, out);
}

// The value's whole raw text (scalars: the token; containers: the subtree) and its type.
Status TransformEngine::rawValue(od::value v, std::string_view* tok, od::json_type* type) {
  COSMOSEAL_SJ_TRY(v.type().get(*type));
  if (*type == od::json_type::object) {
    od::object o;
    COSMOSEAL_SJ_TRY(v.get_object().get(o));
    COSMOSEAL_SJ_TRY(o.raw_json().get(*tok));
  } else if (*type == od::json_type::array) {
    od::array a;
    COSMOSEAL_SJ_TRY(v.get_array().get(a));
    COSMOSEAL_SJ_TRY(a.raw_json().get(*tok));
  } else {
    *tok = v.raw_json_token();
  }
  *tok = trimWs(*tok);
  if (tok->empty()) return parseError(simdjson::TAPE_ERROR);
  return Status::ok();
}

// Appends `"` + envelope + `"` for the raw token to *dst (nothing on failure).
Status TransformEngine::sealToken(std::string_view tok, ValueType vt, const FieldRule& rule,
                                  std::string* dst) {
  std::string_view plaintext = tok;
  const bool scratch = vt == ValueType::kString && tok.find('\\') != std::string_view::npos;
  // Deterministic numbers are sealed in their canonical spelling (policy/json/text.h): Cosmos
  // compares numbers as doubles, so 5, 5.0 and 5e0 must give one envelope. Randomized ones keep
  // the spelling, byte for byte.
  const bool number_scratch = vt == ValueType::kNumber && rule.mode == FieldMode::kDeterministic;
  const size_t number_bound = tok.size() + 32;  // canonical <= 25 bytes + sign, or the token
  if (number_scratch) {
    canon.clear();
    canon.reserve(number_bound);
    Status s = appendCanonicalNumber(tok, &canon);
    if (!s.isOk()) {
      wipe(&canon, number_bound);
      return s;
    }
    plaintext = canon;
  }
  if (scratch) {
    // Unescaped <= token and canonical <= token (every character's canonical spelling is its
    // shortest one), so the reservations below mean no reallocation leaves copies behind.
    unesc.clear();
    unesc.reserve(tok.size());
    Status s = unescapeJsonString(tok, &unesc);
    if (!s.isOk()) {
      wipe(&unesc, tok.size());
      return s;
    }
    if (rule.mode == FieldMode::kDeterministic) {
      canon.clear();
      canon.reserve(tok.size());
      appendCanonicalJsonString(unesc, &canon);
      plaintext = canon;
    }
  }
  const size_t before = dst->size();
  dst->push_back('"');
  Status s = cipher->seal(cipherMode(rule.mode), rule.key, rule.binding, vt, plaintext, dst);
  if (scratch) {
    wipe(&unesc, tok.size());
    wipe(&canon, tok.size());
  }
  if (number_scratch) wipe(&canon, number_bound);
  if (!s.isOk()) {
    dst->resize(before);
    return s;
  }
  dst->push_back('"');
  ++stats.encrypted;
  stats.noteKeyId(keyIdFor(rule));
  return Status::ok();
}

Status TransformEngine::sealEdit(std::string_view tok, ValueType vt, const FieldRule& rule) {
  const size_t rb = repl.size();
  COSMOSEAL_RETURN_IF_ERROR(sealToken(tok, vt, rule, &repl));
  edits.push_back(Edit{off(tok.data()), off(tok.data()) + tok.size(), rb, repl.size()});
  return Status::ok();
}

Status TransformEngine::sealValue(od::value v, const FieldRule& rule) {
  std::string_view tok;
  od::json_type t;
  COSMOSEAL_RETURN_IF_ERROR(rawValue(v, &tok, &t));
  return sealEdit(tok, scalarType(t, tok), rule);
}

Status TransformEngine::duplicate(std::string_view name, const char* where) const {
  return invalidArgument(jd::kDuplicateKey,
                         "member " + squote(name) + " appears twice in an object at byte " +
                             std::to_string(off(where)) +
                             " that leads to protected fields; expected unique member names "
                             "(compared after unescaping)");
}

Status TransformEngine::checkMemberName(std::string_view name, std::string_view where) const {
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return invalidArgument(jd::kBadMemberName,
                             "member name " + squote(name) + " " + std::string(where) +
                                 " has a control character (U+0000-U+001F); expected member "
                                 "names without control characters on a container with "
                                 "protected fields");
    }
  }
  return Status::ok();
}

Status TransformEngine::iterateSpan(Span s, od::document* doc) {
  COSMOSEAL_SJ_TRY(parser.iterate(base + s.begin, s.size(), cap - s.begin).get(*doc));
  return Status::ok();
}

// Refuses strings starting with "csx1:" outside every sealed value (see the header).
Status TransformEngine::checkLookalikes(std::string_view text,
                                        const std::vector<Edit>& sorted_edits,
                                        std::vector<internal::EnvelopeString>* scratch) {
  scratch->clear();
  internal::findEnvelopeStrings(text, scratch);
  size_t e = 0;
  for (const internal::EnvelopeString& h : *scratch) {
    if (h.is_key) continue;
    while (e < sorted_edits.size() && sorted_edits[e].end <= h.begin) ++e;
    if (e < sorted_edits.size() && sorted_edits[e].begin <= h.begin &&
        h.end <= sorted_edits[e].end) {
      continue;  // inside a value that is sealed as a whole
    }
    return invalidArgument(
        jd::kEnvelopeLookalike,
        "the string at byte " + std::to_string(h.begin) +
            " starts with \"csx1:\" (the envelope prefix) outside every protected "
            "field; expected envelope-like text only in protected fields");
  }
  return Status::ok();
}

void TransformEngine::sortEdits(std::vector<Edit>* v) {
  std::sort(v->begin(), v->end(), [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
}

// Appends text with the edits applied. Edits must be sorted and disjoint (checked first, so
// nothing is appended on failure).
Status TransformEngine::splice(std::string_view text, const std::vector<Edit>& sorted_edits,
                               std::string_view replacements, std::string* out) {
  size_t total = text.size();
  size_t prev = 0;
  for (const Edit& e : sorted_edits) {
    if (e.begin < prev || e.end > text.size() || e.end < e.begin) {
      return Status(Code::kInternal, jd::kInternal, "overlapping transform edits");
    }
    total = total - (e.end - e.begin) + (e.repl_end - e.repl_begin);
    prev = e.end;
  }
  out->reserve(out->size() + total);
  prev = 0;
  for (const Edit& e : sorted_edits) {
    out->append(text.data() + prev, e.begin - prev);
    out->append(replacements.data() + e.repl_begin, e.repl_end - e.repl_begin);
    prev = e.end;
  }
  out->append(text.data() + prev, text.size() - prev);
  return Status::ok();
}

Status TransformEngine::finishRequest(std::string* out, TransformStats* st) {
  sortEdits(&edits);
  const std::string_view text(base, size);
  COSMOSEAL_RETURN_IF_ERROR(checkLookalikes(text, edits, &found));
  COSMOSEAL_RETURN_IF_ERROR(splice(text, edits, repl, out));
  if (st != nullptr) st->add(stats);
  return Status::ok();
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------

void TransformStats::noteKeyId(uint32_t id) noexcept { noteKeyIds(id, 1); }

void TransformStats::noteKeyIds(uint32_t id, uint32_t count) noexcept {
  for (uint8_t i = 0; i < key_id_count; ++i) {
    if (key_ids[i] == id) {
      key_id_counts[i] += count;
      return;
    }
  }
  if (key_id_count < kMaxKeyIds) {
    key_id_counts[key_id_count] = count;
    key_ids[key_id_count++] = id;
  } else {
    key_ids_overflow = true;
  }
}

void TransformStats::add(const TransformStats& o) noexcept {
  encrypted += o.encrypted;
  decrypted += o.decrypted;
  lookalikes += o.lookalikes;
  plaintext_at_protected += o.plaintext_at_protected;
  stale_envelopes += o.stale_envelopes;
  for (uint8_t i = 0; i < o.key_id_count; ++i) noteKeyIds(o.key_ids[i], o.key_id_counts[i]);
  key_ids_overflow = key_ids_overflow || o.key_ids_overflow;
}

std::string_view responseShapeName(ResponseShape shape) noexcept {
  switch (shape) {
    case ResponseShape::kDocument:
      return "document";
    case ResponseShape::kFeed:
      return "feed";
    case ResponseShape::kQuery:
      return "query";
    case ResponseShape::kBatchResults:
      return "batch_results";
    case ResponseShape::kChangeFeedAllVersions:
      return "change_feed_all_versions";
    case ResponseShape::kAny:
      return "any";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------

JsonTransformer::JsonTransformer(crypto::FieldCipher* cipher)
    : engine_(std::make_unique<internal::TransformEngine>(cipher)) {}

JsonTransformer::~JsonTransformer() = default;

namespace {

// The request protocol every body kind shares: validate and pad the body, let `transform` record
// its edits, then check for lookalikes and splice into *out; per-call state is cleansed on every
// path (CallGuard).
template <typename Transform>
Status runRequest(internal::TransformEngine& m, PaddedInput body, const ContainerPolicy& policy,
                  const MixedData* mixed, std::string* out, TransformStats* stats,
                  Transform&& transform) {
  internal::TransformEngine::CallGuard guard(m);
  COSMOSEAL_RETURN_IF_ERROR(m.beginRequest(body, &policy, mixed));
  COSMOSEAL_RETURN_IF_ERROR(transform());
  return m.finishRequest(out, stats);
}

}  // namespace

Status JsonTransformer::encryptDocument(PaddedInput body, const ContainerPolicy& policy,
                                        std::string* out, TransformStats* stats) {
  internal::TransformEngine& m = *engine_;
  return runRequest(m, body, policy, /*mixed=*/nullptr, out, stats, [&] {
    return m.encryptDocumentSpan(internal::Span{0, m.size});
  });
}

Status JsonTransformer::encryptPatch(PaddedInput body, const ContainerPolicy& policy,
                                     std::string* out, TransformStats* stats,
                                     const MixedData* mixed) {
  internal::TransformEngine& m = *engine_;
  return runRequest(m, body, policy, mixed, out, stats, [&] {
    return m.encryptPatchSpan(internal::Span{0, m.size});
  });
}

Status JsonTransformer::encryptBatch(PaddedInput body, const ContainerPolicy& policy,
                                     std::span<const FieldRule* const> pk_rules, std::string* out,
                                     TransformStats* stats, const MixedData* mixed) {
  COSMOSEAL_RETURN_IF_ERROR(
      internal::TransformEngine::refuseBinaryBatch(std::string_view(body.data, body.size)));
  internal::TransformEngine& m = *engine_;
  return runRequest(m, body, policy, mixed, out, stats,
                    [&] { return m.encryptBatchBody(pk_rules); });
}

Status JsonTransformer::encryptPartitionKey(std::string_view header_json,
                                            std::span<const FieldRule* const> pk_rules,
                                            std::string* out, TransformStats* stats) {
  internal::TransformEngine& m = *engine_;
  internal::TransformEngine::CallGuard guard(m);
  m.response = false;
  m.stats = TransformStats{};
  COSMOSEAL_RETURN_IF_ERROR(m.partitionKey(header_json, pk_rules, out));
  if (stats != nullptr) stats->add(m.stats);
  return Status::ok();
}

Status JsonTransformer::decryptResponse(PaddedInput body, ResponseShape shape,
                                        const ContainerPolicy* policy, std::string* out,
                                        TransformStats* stats) {
  internal::TransformEngine& m = *engine_;
  internal::TransformEngine::CallGuard guard(m);
  return m.decrypt(body, shape, policy, out, stats);
}

}  // namespace cosmoseal::policy
