#include "policy/json/transformer.h"

#include "policy/query/rewriter.h"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "common/secret_bytes.h"
#include "policy/json/internal/scan.h"
#include "policy/json/text.h"

namespace cosmoseal::policy {

namespace od = simdjson::ondemand;
using common::Code;
using common::Status;
using crypto::ValueType;

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING,
              "kJsonPadding must cover simdjson's padding");

// Returns from the enclosing Impl member function when a simdjson call fails. On requests the
// body was validated first, so this is not expected there (reported as 400 policy.bad_json); on
// responses it means the body is not JSON the walk can follow (502 policy.bad_response).
#define COSMOSEAL_SJ_TRY(expr)                                    \
  do {                                                            \
    const simdjson::error_code sj_err_ = (expr);                  \
    if (sj_err_ != simdjson::SUCCESS) return parseError(sj_err_); \
  } while (0)

namespace {

constexpr std::string_view kEnvelopeQuoted = "\"csx1:";
static_assert(kEnvelopeQuoted.substr(1) == crypto::kEnvelopePrefix);

Status invalid(std::string_view detail, std::string message) {
  return Status(Code::kInvalidArgument, detail, std::move(message));
}

inline bool isWs(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// simdjson's raw tokens include the whitespace up to the next token.
inline std::string_view trimWs(std::string_view s) noexcept {
  while (!s.empty() && isWs(s.back())) s.remove_suffix(1);
  return s;
}

inline bool allDigits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string squote(std::string_view s) {
  std::string out = "'";
  // Names in messages come from the client; keep them short and printable.
  for (char c : s.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  if (s.size() > 64) out += "...";
  out += "'";
  return out;
}

crypto::Mode cipherMode(FieldMode m) noexcept {
  return m == FieldMode::kDeterministic ? crypto::Mode::kDeterministic : crypto::Mode::kRandomized;
}

// Overwrites every byte a scratch string may have held (up to `bound`, at least its size) and
// empties it. Resizing within capacity never reallocates, so no copy is left behind.
void wipe(std::string* s, size_t bound) noexcept {
  const size_t n = std::max(s->size(), std::min(bound, s->capacity()));
  if (n == 0) return;
  s->resize(n);
  common::secureZero(s->data(), n);
  s->clear();
}

// Duplicate member-name detection for one object: open addressing, generation-stamped slots so
// a reset costs nothing.
class KeySet {
 public:
  void reset() noexcept {
    count_ = 0;
    if (++gen_ == 0) {
      for (Slot& s : slots_) s.gen = 0;
      gen_ = 1;
    }
  }

  // False if `key` was already inserted since the last reset(). `key` must stay valid until then.
  bool insert(std::string_view key) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const uint32_t h = hash(key);
    return place(Slot{gen_, h, key.data(), key.size()});
  }

 private:
  struct Slot {
    uint32_t gen = 0;
    uint32_t hash = 0;
    const char* ptr = nullptr;
    size_t len = 0;
  };

  static uint32_t hash(std::string_view s) noexcept {
    uint32_t h = 2166136261u;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    return h;
  }

  bool place(const Slot& n) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = n.hash & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.gen != gen_) {
        s = n;
        ++count_;
        return true;
      }
      if (s.hash == n.hash && s.len == n.len && std::memcmp(s.ptr, n.ptr, n.len) == 0) {
        return false;
      }
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{});
    if (gen_ == 0) gen_ = 1;
    count_ = 0;
    for (const Slot& s : old) {
      if (s.gen == gen_) place(s);
    }
  }

  std::vector<Slot> slots_;
  uint32_t gen_ = 0;
  size_t count_ = 0;
};

// The children of one trie node, prepared once per object visit so that the common case - a
// member name that no policy path mentions - costs a bit test instead of a std::map lookup.
// Semantics are exactly PathNode::member(): the named child, else the wildcard child.
class ChildLookup {
 public:
  explicit ChildLookup(const PathNode& node) noexcept : node_(node), wild_(node.wildcard()) {
    for (const auto& [name, child] : node.named()) {
      if (n_ == kMax) {
        use_map_ = true;
        return;
      }
      names_[n_] = name;
      children_[n_] = child.get();
      len_bits_ |= uint64_t{1} << (name.size() & 63);
      ++n_;
    }
  }

  const PathNode* find(std::string_view name) const noexcept {
    if (use_map_) return node_.member(name);
    if (((len_bits_ >> (name.size() & 63)) & 1) != 0) {
      for (size_t i = 0; i < n_; ++i) {
        if (names_[i].size() == name.size() &&
            std::memcmp(names_[i].data(), name.data(), name.size()) == 0) {
          return children_[i];
        }
      }
    }
    return wild_;
  }

 private:
  static constexpr size_t kMax = 8;
  const PathNode& node_;
  const PathNode* wild_;
  bool use_map_ = false;
  size_t n_ = 0;
  uint64_t len_bits_ = 0;
  std::string_view names_[kMax];
  const PathNode* children_[kMax] = {};
};

// A byte range of the current body.
struct Span {
  size_t begin = 0;
  size_t end = 0;
  size_t size() const noexcept { return end - begin; }
};

// Replace body[begin, end) by repl[repl_begin, repl_end).
struct Edit {
  size_t begin;
  size_t end;
  size_t repl_begin;
  size_t repl_end;
};

enum class PatchKind : uint8_t { kAdd, kSet, kReplace, kRemove, kIncr, kMove, kCopy };

struct PatchOp {
  bool has_op = false, has_path = false, has_from = false, has_value = false;
  std::string_view op, path, from;  // unescaped
  Span value;
  od::json_type value_type = od::json_type::null;
};

struct BatchOp {
  bool has_type = false, has_body = false, has_pk = false;
  std::string_view type;  // unescaped
  Span body;
  od::json_type body_type = od::json_type::null;
  Span pk;
  od::json_type pk_type = od::json_type::null;
};

// A protected location found by the response walk.
struct ProtectedLoc {
  size_t begin;
  size_t end;
  const FieldRule* rule;
  bool escaped_envelope;  // the raw token has escapes; its unescaped content has the prefix
};

// A string to open in a response.
struct Hit {
  size_t begin;
  size_t end;
  bool has_escape;
  bool is_key;
  const FieldRule* rule;  // non-null: at a known protected location (path check, must open)
};

ValueType scalarType(od::json_type t, std::string_view tok) noexcept {
  switch (t) {
    case od::json_type::string:
      return ValueType::kString;
    case od::json_type::number:
      return ValueType::kNumber;
    case od::json_type::boolean:
      return !tok.empty() && tok.front() == 't' ? ValueType::kTrue : ValueType::kFalse;
    case od::json_type::null:
      return ValueType::kNull;
    case od::json_type::object:
      return ValueType::kObject;
    case od::json_type::array:
      return ValueType::kArray;
  }
  return ValueType::kNull;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void TransformStats::noteKeyId(uint32_t id) noexcept {
  for (uint8_t i = 0; i < key_id_count; ++i) {
    if (key_ids[i] == id) return;
  }
  if (key_id_count < kMaxKeyIds) {
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
  for (uint8_t i = 0; i < o.key_id_count; ++i) noteKeyId(o.key_ids[i]);
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

struct JsonTransformer::Impl {
  explicit Impl(crypto::FieldCipher* c) : cipher(c) {}

  crypto::FieldCipher* cipher;
  od::parser parser;

  // ---- per call ----
  const char* base = nullptr;  // the body (the caller's buffer or `padded`)
  size_t size = 0;
  size_t cap = 0;  // readable bytes at base (>= size + kJsonPadding)
  bool response = false;
  const ContainerPolicy* policy = nullptr;
  TransformStats stats;

  std::string padded;  // padded copy of a body: plaintext, cleansed (first padded_used bytes)
  size_t padded_used = 0;
  std::string unesc;  // unescaped string scratch: plaintext, cleansed after each use
  std::string canon;  // canonical token scratch: plaintext, cleansed after each use
  std::string repl;   // replacement texts (quoted envelopes, re-escaped partition keys)
  std::vector<Edit> edits;
  std::vector<internal::EnvelopeString> found;
  std::vector<ProtectedLoc> prot;
  std::vector<Hit> hits;
  std::vector<PatchOp> patch_ops;
  std::vector<BatchOp> batch_ops;
  std::deque<KeySet> keysets;  // one per nesting level being checked (stable references)
  size_t keyset_depth = 0;
  std::deque<std::string> arena;  // unescaped names/paths/conditions: cleansed at the end
  // Partition-key rewriting (its own buffer: it also runs in the middle of a batch).
  std::string pk_buf;  // padded copy: plaintext, cleansed
  size_t pk_used = 0;
  std::string pk_text;  // unescaped per-op partitionKey: plaintext, cleansed
  std::string pk_out;   // rewritten partition key before re-escaping
  std::string pk_repl;
  std::vector<Edit> pk_edits;
  std::vector<internal::EnvelopeString> pk_found;
  // Key id of the primary version of the last key name sealed with (stats).
  std::string last_key_name;
  uint32_t last_key_id = 0;
  bool last_key_valid = false;

  // RAII: cleanses and resets per-call state on every return path.
  struct CallGuard {
    explicit CallGuard(Impl& m) : m(m) {}
    ~CallGuard() { m.endCall(); }
    Impl& m;
  };

  struct KeyScope {
    explicit KeyScope(Impl& m) : m(m) {
      if (m.keyset_depth == m.keysets.size()) m.keysets.emplace_back();
      set = &m.keysets[m.keyset_depth++];
      set->reset();
    }
    ~KeyScope() { --m.keyset_depth; }
    Impl& m;
    KeySet* set;
  };

  void endCall() noexcept {
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

  Status parseError(simdjson::error_code e) const {
    if (response) {
      return Status(Code::kBadGateway, "policy.bad_response",
                    std::string("the upstream response is not JSON the decryptor can follow (") +
                        simdjson::error_message(e) + ")");
    }
    return invalid("policy.bad_json", std::string("unexpected JSON parser error (") +
                                          simdjson::error_message(e) + ")");
  }

  size_t off(const char* p) const noexcept { return static_cast<size_t>(p - base); }

  void setInput(PaddedInput in) {
    size = in.size;
    if (in.data != nullptr && in.capacity >= in.size + kJsonPadding) {
      base = in.data;
      cap = in.capacity;
      return;
    }
    if (padded.size() < in.size + kJsonPadding) padded.resize(in.size + kJsonPadding);
    if (in.size != 0) std::memcpy(padded.data(), in.data, in.size);
    padded_used = in.size;
    base = padded.data();
    cap = padded.size();
  }

  Status beginRequest(PaddedInput in, const ContainerPolicy* p) {
    response = false;
    policy = p;
    stats = TransformStats{};
    setInput(in);
    return internal::validateJson(std::string_view(base, size));
  }

  uint32_t keyIdFor(const FieldRule& rule) {
    if (!last_key_valid || last_key_name != rule.key) {
      const crypto::KeyVersion* kv = cipher->keyring()->primary(rule.key);
      last_key_id = kv != nullptr ? kv->id : 0;
      last_key_name = rule.key;
      last_key_valid = true;
    }
    return last_key_id;
  }

  // Unescapes a string token (with quotes) into a fresh arena string (names, paths, conditions).
  Status arenaUnescape(std::string_view token, std::string_view* out) {
    std::string& s = arena.emplace_back();
    s.reserve(token.size());
    COSMOSEAL_RETURN_IF_ERROR(unescapeJsonString(token, &s));
    *out = s;
    return Status::ok();
  }

  // The unescaped name of an object member. Names without backslashes are views into the body.
  Status memberName(od::field& f, std::string_view* name) {
    const char* raw = f.key().raw();  // just past the opening quote
    const char* end = base + size;
#if defined(__SSE2__)
    // Common case: a short name without escapes. The body is padded (cap >= size + 64), so
    // reading 16 bytes here stays inside the buffer; only bytes before `end` count.
    if (raw + 16 <= base + cap) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(raw));
      const unsigned quote =
          static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));
      const unsigned bs =
          static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
      if (quote != 0) {
        const unsigned at = static_cast<unsigned>(__builtin_ctz(quote));
        if ((bs & ((1u << at) - 1)) == 0 && raw + at < end) {
          *name = std::string_view(raw, at);
          return Status::ok();
        }
      }
    }
#endif
    const char* p = raw;
    bool esc = false;
    while (p < end && *p != '"') {
      if (*p == '\\') {
        esc = true;
        p += 2;
      } else {
        ++p;
      }
    }
    if (p >= end) return parseError(simdjson::STRING_ERROR);
    if (!esc) {
      *name = std::string_view(raw, static_cast<size_t>(p - raw));
      return Status::ok();
    }
    Status s = arenaUnescape(std::string_view(raw - 1, static_cast<size_t>(p - raw) + 2), name);
    if (!s.isOk() && response) return parseError(simdjson::STRING_ERROR);
    return s;
  }

  // A JSON string value, unescaped (views into the body when there is nothing to unescape).
  Status stringValue(od::value v, std::string_view* out) {
    const std::string_view tok = trimWs(v.raw_json_token());
    if (tok.find('\\') == std::string_view::npos) {
      *out = tok.substr(1, tok.size() - 2);
      return Status::ok();
    }
    return arenaUnescape(tok, out);
  }

  // The value's whole raw text (scalars: the token; containers: the subtree) and its type.
  Status rawValue(od::value v, std::string_view* tok, od::json_type* type) {
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

  // ---- sealing ----------------------------------------------------------------------------

  // Appends `"` + envelope + `"` for the raw token to *dst (nothing on failure).
  Status sealToken(std::string_view tok, ValueType vt, const FieldRule& rule, std::string* dst) {
    std::string_view plaintext = tok;
    const bool scratch = vt == ValueType::kString && tok.find('\\') != std::string_view::npos;
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
    if (!s.isOk()) {
      dst->resize(before);
      return s;
    }
    dst->push_back('"');
    ++stats.encrypted;
    stats.noteKeyId(keyIdFor(rule));
    return Status::ok();
  }

  Status sealEdit(std::string_view tok, ValueType vt, const FieldRule& rule) {
    const size_t rb = repl.size();
    COSMOSEAL_RETURN_IF_ERROR(sealToken(tok, vt, rule, &repl));
    edits.push_back(Edit{off(tok.data()), off(tok.data()) + tok.size(), rb, repl.size()});
    return Status::ok();
  }

  Status sealValue(od::value v, const FieldRule& rule) {
    std::string_view tok;
    od::json_type t;
    COSMOSEAL_RETURN_IF_ERROR(rawValue(v, &tok, &t));
    return sealEdit(tok, scalarType(t, tok), rule);
  }

  // ---- request walk ------------------------------------------------------------------------

  Status duplicate(std::string_view name, const char* where) const {
    return invalid("policy.duplicate_key",
                   "member " + squote(name) + " appears twice in an object at byte " +
                       std::to_string(off(where)) +
                       " that leads to protected fields; expected unique member names "
                       "(compared after unescaping)");
  }

  // `node` has children: seals what is protected below the value.
  Status walkEncrypt(od::value v, const PathNode& node) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(v.type().get(t));
    if (t == od::json_type::object) {
      od::object o;
      COSMOSEAL_SJ_TRY(v.get_object().get(o));
      return walkEncryptObject(o, node);
    }
    if (t == od::json_type::array) {
      od::array a;
      COSMOSEAL_SJ_TRY(v.get_array().get(a));
      return walkEncryptArray(a, node);
    }
    return Status::ok();  // a scalar where objects are expected: nothing below it to protect
  }

  // Calls fn(name, field) for each member of `o`, with the name unescaped; a name seen twice in
  // the object is refused (policy.duplicate_key) before fn sees it. Every object the write
  // transforms read is read through here.
  template <typename Fn>
  Status forEachUniqueMember(od::object& o, Fn&& fn) {
    KeyScope keys(*this);
    for (auto field_result : o) {
      od::field f;
      COSMOSEAL_SJ_TRY(std::move(field_result).get(f));
      std::string_view name;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &name));
      if (!keys.set->insert(name)) return duplicate(name, f.key().raw());
      COSMOSEAL_RETURN_IF_ERROR(fn(name, f));
    }
    return Status::ok();
  }

  Status walkEncryptObject(od::object& o, const PathNode& node) {
    const ChildLookup children(node);
    return forEachUniqueMember(o, [&](std::string_view name, od::field& f) -> Status {
      const PathNode* child = children.find(name);
      if (child == nullptr) return Status::ok();
      if (child->rule() != nullptr) return sealValue(f.value(), *child->rule());
      if (child->hasChildren()) return walkEncrypt(f.value(), *child);
      return Status::ok();
    });
  }

  Status walkEncryptArray(od::array& a, const PathNode& node) {
    size_t index = 0;
    for (auto element_result : a) {
      od::value v;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
      const PathNode* child = node.element(index++);
      if (child == nullptr) continue;
      if (child->rule() != nullptr) {
        COSMOSEAL_RETURN_IF_ERROR(sealValue(v, *child->rule()));
      } else if (child->hasChildren()) {
        COSMOSEAL_RETURN_IF_ERROR(walkEncrypt(v, *child));
      }
    }
    return Status::ok();
  }

  Status iterateSpan(Span s, od::document* doc) {
    COSMOSEAL_SJ_TRY(parser.iterate(base + s.begin, s.size(), cap - s.begin).get(*doc));
    return Status::ok();
  }

  // A document (root object) at `s`.
  Status encryptDocumentSpan(Span s) {
    od::document doc;
    COSMOSEAL_RETURN_IF_ERROR(iterateSpan(s, &doc));
    od::json_type t;
    COSMOSEAL_SJ_TRY(doc.type().get(t));
    if (t != od::json_type::object) {
      return invalid("policy.bad_document", "the document at byte " + std::to_string(s.begin) +
                                                " is not a JSON object; expected an object");
    }
    if (!policy->root().hasChildren()) return Status::ok();
    od::object o;
    COSMOSEAL_SJ_TRY(doc.get_object().get(o));
    return walkEncryptObject(o, policy->root());
  }

  // A value at `s` whose path lies above protected paths (trie node `node`).
  Status encryptBelow(Span s, od::json_type type, const PathNode& node) {
    if (type != od::json_type::object && type != od::json_type::array) return Status::ok();
    od::document doc;
    COSMOSEAL_RETURN_IF_ERROR(iterateSpan(s, &doc));
    if (type == od::json_type::object) {
      od::object o;
      COSMOSEAL_SJ_TRY(doc.get_object().get(o));
      return walkEncryptObject(o, node);
    }
    od::array a;
    COSMOSEAL_SJ_TRY(doc.get_array().get(a));
    return walkEncryptArray(a, node);
  }

  // Refuses strings starting with "csx1:" outside every sealed value (see the header).
  Status checkLookalikes(std::string_view text, const std::vector<Edit>& sorted_edits,
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
      return invalid("policy.envelope_lookalike",
                     "the string at byte " + std::to_string(h.begin) +
                         " starts with \"csx1:\" (the envelope prefix) outside every protected "
                         "field; expected envelope-like text only in protected fields");
    }
    return Status::ok();
  }

  static void sortEdits(std::vector<Edit>* v) {
    std::sort(v->begin(), v->end(), [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  }

  // Appends text with the edits applied. Edits must be sorted and disjoint (checked first, so
  // nothing is appended on failure).
  static Status splice(std::string_view text, const std::vector<Edit>& sorted_edits,
                       std::string_view replacements, std::string* out) {
    size_t total = text.size();
    size_t prev = 0;
    for (const Edit& e : sorted_edits) {
      if (e.begin < prev || e.end > text.size() || e.end < e.begin) {
        return Status(Code::kInternal, "policy.internal", "overlapping transform edits");
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

  Status finishRequest(std::string* out, TransformStats* st) {
    sortEdits(&edits);
    const std::string_view text(base, size);
    COSMOSEAL_RETURN_IF_ERROR(checkLookalikes(text, edits, &found));
    COSMOSEAL_RETURN_IF_ERROR(splice(text, edits, repl, out));
    if (st != nullptr) st->add(stats);
    return Status::ok();
  }

  // ---- patch ------------------------------------------------------------------------------

  static Status badPatch(std::string message) {
    return invalid("policy.bad_patch", std::move(message));
  }

  Status collectPatchOps(od::array& ops) {
    for (auto element_result : ops) {
      od::value v;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
      od::json_type t;
      COSMOSEAL_SJ_TRY(v.type().get(t));
      if (t != od::json_type::object) {
        return badPatch("patch operation #" + std::to_string(patch_ops.size()) +
                        " is not an object; expected {\"op\",\"path\",\"value\"|\"from\"}");
      }
      PatchOp& op = patch_ops.emplace_back();
      od::object o;
      COSMOSEAL_SJ_TRY(v.get_object().get(o));
      const auto member = [&](std::string_view name, od::field& f) -> Status {
        if (name == "value") {
          std::string_view tok;
          COSMOSEAL_RETURN_IF_ERROR(rawValue(f.value(), &tok, &op.value_type));
          op.value = Span{off(tok.data()), off(tok.data()) + tok.size()};
          op.has_value = true;
          return Status::ok();
        }
        std::string_view* target = nullptr;
        if (name == "op") {
          target = &op.op;
          op.has_op = true;
        } else if (name == "path") {
          target = &op.path;
          op.has_path = true;
        } else if (name == "from") {
          target = &op.from;
          op.has_from = true;
        } else {
          return badPatch("patch operation #" + std::to_string(patch_ops.size() - 1) +
                          " has an unknown member " + squote(name) +
                          "; expected only op, path, value and from");
        }
        od::json_type vt;
        COSMOSEAL_SJ_TRY(f.value().type().get(vt));
        if (vt != od::json_type::string) {
          return badPatch("patch operation member " + squote(name) + " is not a string");
        }
        return stringValue(f.value(), target);
      };
      COSMOSEAL_RETURN_IF_ERROR(forEachUniqueMember(o, member));
    }
    return Status::ok();
  }

  struct Resolved {
    PathRelation relation = PathRelation::kUnprotected;
    const PathNode* node = nullptr;   // kContainsProtected: the node at the path
    const FieldRule* rule = nullptr;  // kProtected / kInsideProtected
  };

  // Relates a patch path (JSON pointer) to the policy.
  Status resolvePatchPath(std::string_view path, Resolved* r) {
    std::vector<PathSegment> segs;
    Status s = parseFieldPath(path, /*allow_wildcard=*/false, &segs);
    if (!s.isOk()) return badPatch("patch path " + squote(path) + ": " + std::string(s.message()));
    *r = Resolved{};
    const PathNode* node = &policy->root();
    for (size_t i = 0; i < segs.size(); ++i) {
      const std::string& seg = segs[i].name;
      const bool odd_index = seg == "-" || (seg.size() > 1 && seg.front() == '0' && allDigits(seg));
      if (odd_index) {
        for (const auto& [name, child] : node->named()) {
          if (allDigits(name)) {
            return invalid("policy.patch_ambiguous_path",
                           "patch path " + squote(path) + " uses " + squote(seg) +
                               " where the policy protects literal array index " + squote(name) +
                               ", so the element's final index (and rule) is unknown; expected "
                               "an explicit canonical index");
          }
        }
      }
      const PathNode* child = node->member(seg);
      if (child == nullptr) return Status::ok();
      if (child->rule() != nullptr) {
        r->relation =
            i + 1 == segs.size() ? PathRelation::kProtected : PathRelation::kInsideProtected;
        r->rule = child->rule();
        return Status::ok();
      }
      node = child;
    }
    if (node->hasChildren()) {
      r->relation = PathRelation::kContainsProtected;
      r->node = node;
    }
    return Status::ok();
  }

  Status applyPatchOp(const PatchOp& op, size_t index) {
    const std::string which = "patch operation #" + std::to_string(index);
    if (!op.has_op) return badPatch(which + " has no \"op\"");
    PatchKind kind;
    if (op.op == "add") {
      kind = PatchKind::kAdd;
    } else if (op.op == "set") {
      kind = PatchKind::kSet;
    } else if (op.op == "replace") {
      kind = PatchKind::kReplace;
    } else if (op.op == "remove") {
      kind = PatchKind::kRemove;
    } else if (op.op == "incr") {
      kind = PatchKind::kIncr;
    } else if (op.op == "move") {
      kind = PatchKind::kMove;
    } else if (op.op == "copy") {
      kind = PatchKind::kCopy;
    } else {
      return badPatch(which + " has unknown op " + squote(op.op) +
                      "; expected add, set, replace, remove, incr, move or copy");
    }
    if (!op.has_path) return badPatch(which + " has no \"path\"");
    const bool wants_value = kind == PatchKind::kAdd || kind == PatchKind::kSet ||
                             kind == PatchKind::kReplace || kind == PatchKind::kIncr;
    const bool wants_from = kind == PatchKind::kMove || kind == PatchKind::kCopy;
    if (wants_value != op.has_value) {
      return badPatch(which + " (" + std::string(op.op) +
                      (wants_value ? ") has no \"value\"" : ") must not have a \"value\""));
    }
    if (wants_from != op.has_from) {
      return badPatch(which + " (" + std::string(op.op) +
                      (wants_from ? ") has no \"from\"" : ") must not have a \"from\""));
    }
    if (kind == PatchKind::kRemove) {
      std::vector<PathSegment> segs;
      Status s = parseFieldPath(op.path, false, &segs);
      if (!s.isOk()) {
        return badPatch("patch path " + squote(op.path) + ": " + std::string(s.message()));
      }
      return Status::ok();  // removing never writes a value
    }
    Resolved r;
    COSMOSEAL_RETURN_IF_ERROR(resolvePatchPath(op.path, &r));
    if (wants_from) {
      Resolved rf;
      COSMOSEAL_RETURN_IF_ERROR(resolvePatchPath(op.from, &rf));
      if (r.relation != PathRelation::kUnprotected || rf.relation != PathRelation::kUnprotected) {
        return invalid("policy.patch_move_protected",
                       which + " (" + std::string(op.op) + " from " + squote(op.from) + " to " +
                           squote(op.path) +
                           ") touches a protected field; expected move/copy only between "
                           "unprotected paths (ciphertexts are bound to their path)");
      }
      return Status::ok();
    }
    if (kind == PatchKind::kIncr) {
      if (r.relation == PathRelation::kProtected || r.relation == PathRelation::kInsideProtected) {
        return invalid("policy.patch_incr_protected",
                       which + " (incr " + squote(op.path) +
                           ") targets a protected field, which is stored encrypted and cannot be "
                           "incremented; expected set/replace with the new value");
      }
      return Status::ok();
    }
    switch (r.relation) {
      case PathRelation::kUnprotected:
        return Status::ok();
      case PathRelation::kInsideProtected:
        return invalid("policy.patch_inside_protected",
                       which + " (" + std::string(op.op) + " " + squote(op.path) +
                           ") writes inside the protected field " + squote(r.rule->pattern) +
                           ", which is encrypted as one value; expected a patch of the whole "
                           "field");
      case PathRelation::kProtected: {
        const std::string_view tok(base + op.value.begin, op.value.size());
        return sealEdit(tok, scalarType(op.value_type, tok), *r.rule);
      }
      case PathRelation::kContainsProtected:
        return encryptBelow(op.value, op.value_type, *r.node);
    }
    return Status::ok();
  }

  // A patch condition ("FROM c WHERE ...") is a query filter: the query rewriter decides
  // (equality on deterministic fields gets its literals sealed; anything Cosmos could not
  // evaluate on ciphertext is refused with the query.* detail codes). A changed condition
  // replaces the original string token.
  Status rewriteCondition(std::string_view cond, std::string_view token) {
    auto rewritten = rewritePatchCondition(cond, *policy, *cipher);
    if (!rewritten.isOk()) return rewritten.status();
    if (*rewritten == cond) return Status::ok();
    const size_t rb = repl.size();
    appendCanonicalJsonString(*rewritten, &repl);
    edits.push_back(Edit{off(token.data()), off(token.data()) + token.size(), rb, repl.size()});
    return Status::ok();
  }

  Status encryptPatchSpan(Span s) {
    od::document doc;
    COSMOSEAL_RETURN_IF_ERROR(iterateSpan(s, &doc));
    od::json_type t;
    COSMOSEAL_SJ_TRY(doc.type().get(t));
    patch_ops.clear();
    bool has_condition = false;
    std::string_view condition;
    std::string_view condition_token;
    if (t == od::json_type::array) {
      od::array a;
      COSMOSEAL_SJ_TRY(doc.get_array().get(a));
      COSMOSEAL_RETURN_IF_ERROR(collectPatchOps(a));
    } else if (t == od::json_type::object) {
      od::object o;
      COSMOSEAL_SJ_TRY(doc.get_object().get(o));
      bool has_ops = false;
      const auto member = [&](std::string_view name, od::field& f) -> Status {
        od::json_type vt;
        COSMOSEAL_SJ_TRY(f.value().type().get(vt));
        if (name == "operations") {
          if (vt != od::json_type::array) return badPatch("\"operations\" is not an array");
          od::array a;
          COSMOSEAL_SJ_TRY(f.value().get_array().get(a));
          COSMOSEAL_RETURN_IF_ERROR(collectPatchOps(a));
          has_ops = true;
        } else if (name == "condition") {
          if (vt != od::json_type::string) return badPatch("\"condition\" is not a string");
          condition_token = trimWs(f.value().raw_json_token());
          COSMOSEAL_RETURN_IF_ERROR(stringValue(f.value(), &condition));
          has_condition = true;
        } else {
          return badPatch("the patch has an unknown member " + squote(name) +
                          "; expected only operations and condition");
        }
        return Status::ok();
      };
      COSMOSEAL_RETURN_IF_ERROR(forEachUniqueMember(o, member));
      if (!has_ops) return badPatch("the patch object has no \"operations\" array");
    } else {
      return badPatch(
          "the patch is neither an array of operations nor an object with \"operations\"");
    }
    for (size_t i = 0; i < patch_ops.size(); ++i) {
      COSMOSEAL_RETURN_IF_ERROR(applyPatchOp(patch_ops[i], i));
    }
    if (has_condition) COSMOSEAL_RETURN_IF_ERROR(rewriteCondition(condition, condition_token));
    return Status::ok();
  }

  // ---- partition key ------------------------------------------------------------------------

  static Status badPk(std::string message) {
    return invalid("policy.bad_partition_key", std::move(message));
  }

  // Appends the rewritten partition-key JSON to *dst. Uses its own buffer and edit list, so it
  // can run between the passes of a batch; the parser is free at that point.
  Status partitionKey(std::string_view json, std::span<const FieldRule* const> rules,
                      std::string* dst) {
    bool any_rule = false;
    for (const FieldRule* r : rules) any_rule = any_rule || r != nullptr;
    Status valid = internal::validateJson(json);
    if (!valid.isOk()) {
      return badPk("the partition key " + std::string(valid.message()) +
                   "; expected a JSON array such as [\"value\"]");
    }
    if (pk_buf.size() < json.size() + kJsonPadding) pk_buf.resize(json.size() + kJsonPadding);
    if (!json.empty()) std::memcpy(pk_buf.data(), json.data(), json.size());
    pk_used = std::max(pk_used, json.size());
    const char* pk_base = pk_buf.data();
    pk_edits.clear();
    pk_repl.clear();

    od::document doc;
    COSMOSEAL_SJ_TRY(parser.iterate(pk_base, json.size(), pk_buf.size()).get(doc));
    od::json_type t;
    COSMOSEAL_SJ_TRY(doc.type().get(t));
    if (t != od::json_type::array) return badPk("the partition key is not a JSON array");
    od::array a;
    COSMOSEAL_SJ_TRY(doc.get_array().get(a));
    size_t i = 0;
    for (auto element_result : a) {
      od::value v;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
      const size_t index = i++;
      if (index >= rules.size() && any_rule) {
        return badPk("the partition key has more components than partition-key paths (" +
                     std::to_string(rules.size()) + ")");
      }
      std::string_view tok;
      od::json_type vt;
      COSMOSEAL_RETURN_IF_ERROR(rawValue(v, &tok, &vt));
      if (vt == od::json_type::array) {
        return badPk("partition-key component #" + std::to_string(index) +
                     " is an array; expected a string, number, boolean, null or {}");
      }
      if (vt == od::json_type::object) {
        if (tok.substr(1, tok.size() - 2).find_first_not_of(" \t\r\n") != std::string_view::npos) {
          return badPk("partition-key component #" + std::to_string(index) +
                       " is a non-empty object; expected a string, number, boolean, null or {}");
        }
        continue;  // {} = None: nothing to seal (the document has no value there either)
      }
      if (index >= rules.size()) continue;
      const FieldRule* rule = rules[index];
      if (rule == nullptr) continue;
      if (rule->mode != FieldMode::kDeterministic) {
        return Status(Code::kFailedPrecondition, "policy.randomized_partition_key",
                      "partition-key path " + squote(rule->pattern) +
                          " is protected by a randomized field; expected mode: deterministic");
      }
      const size_t rb = pk_repl.size();
      COSMOSEAL_RETURN_IF_ERROR(sealToken(tok, scalarType(vt, tok), *rule, &pk_repl));
      const size_t b = static_cast<size_t>(tok.data() - pk_base);
      pk_edits.push_back(Edit{b, b + tok.size(), rb, pk_repl.size()});
    }
    const std::string_view text(pk_base, json.size());
    COSMOSEAL_RETURN_IF_ERROR(checkLookalikes(text, pk_edits, &pk_found));
    return splice(text, pk_edits, pk_repl, dst);
  }

  // ---- batch ------------------------------------------------------------------------------

  static Status badBatch(std::string message) {
    return invalid("policy.bad_batch", std::move(message));
  }

  Status encryptBatchBody(std::span<const FieldRule* const> pk_rules) {
    od::document doc;
    COSMOSEAL_RETURN_IF_ERROR(iterateSpan(Span{0, size}, &doc));
    od::json_type t;
    COSMOSEAL_SJ_TRY(doc.type().get(t));
    if (t != od::json_type::array) return badBatch("the batch body is not a JSON array");
    od::array ops;
    COSMOSEAL_SJ_TRY(doc.get_array().get(ops));
    for (auto element_result : ops) {
      od::value v;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
      od::json_type vt;
      COSMOSEAL_SJ_TRY(v.type().get(vt));
      if (vt != od::json_type::object) {
        return badBatch("batch operation #" + std::to_string(batch_ops.size()) +
                        " is not an object");
      }
      BatchOp& op = batch_ops.emplace_back();
      od::object o;
      COSMOSEAL_SJ_TRY(v.get_object().get(o));
      const auto member = [&](std::string_view name, od::field& f) -> Status {
        if (name == "operationType") {
          od::json_type ft;
          COSMOSEAL_SJ_TRY(f.value().type().get(ft));
          if (ft != od::json_type::string) return badBatch("\"operationType\" is not a string");
          COSMOSEAL_RETURN_IF_ERROR(stringValue(f.value(), &op.type));
          op.has_type = true;
        } else if (name == "resourceBody" || name == "partitionKey") {
          std::string_view tok;
          od::json_type ft;
          COSMOSEAL_RETURN_IF_ERROR(rawValue(f.value(), &tok, &ft));
          const Span sp{off(tok.data()), off(tok.data()) + tok.size()};
          if (name == "resourceBody") {
            op.body = sp;
            op.body_type = ft;
            op.has_body = true;
          } else {
            op.pk = sp;
            op.pk_type = ft;
            op.has_pk = true;
          }
        } else if (name != "id" && name != "ifMatch" && name != "ifNoneMatch" &&
                   name != "resourceType") {
          return badBatch("batch operation #" + std::to_string(batch_ops.size() - 1) +
                          " has an unknown member " + squote(name) +
                          "; expected operationType, id, partitionKey, resourceBody, ifMatch, "
                          "ifNoneMatch, resourceType");
        }
        return Status::ok();
      };
      COSMOSEAL_RETURN_IF_ERROR(forEachUniqueMember(o, member));
    }

    bool any_pk_rule = false;
    for (const FieldRule* r : pk_rules) any_pk_rule = any_pk_rule || r != nullptr;
    for (size_t i = 0; i < batch_ops.size(); ++i) {
      const BatchOp& op = batch_ops[i];
      const std::string which = "batch operation #" + std::to_string(i);
      if (!op.has_type) return badBatch(which + " has no \"operationType\"");
      const bool is_doc = op.type == "Create" || op.type == "Upsert" || op.type == "Replace";
      const bool is_patch = op.type == "Patch";
      if (is_doc || is_patch) {
        if (!op.has_body || op.body_type != od::json_type::object) {
          return badBatch(which + " (" + std::string(op.type) +
                          ") needs a \"resourceBody\" object");
        }
        COSMOSEAL_RETURN_IF_ERROR(is_doc ? encryptDocumentSpan(op.body)
                                         : encryptPatchSpan(op.body));
      } else if (op.type == "Read" || op.type == "Delete") {
        if (op.has_body) {
          return badBatch(which + " (" + std::string(op.type) +
                          ") must not have a \"resourceBody\"");
        }
      } else {
        return badBatch(which + " has unknown operationType " + squote(op.type) +
                        "; expected Create, Upsert, Replace, Patch, Read or Delete");
      }
      if (!op.has_pk) continue;
      if (op.pk_type != od::json_type::string) {
        return badBatch(which +
                        " has a \"partitionKey\" that is not a string; expected a JSON "
                        "array in a string, such as \"[\\\"p1\\\"]\"");
      }
      if (!any_pk_rule) continue;
      const std::string_view tok(base + op.pk.begin, op.pk.size());
      pk_text.clear();
      pk_text.reserve(tok.size());
      Status s = unescapeJsonString(tok, &pk_text);
      if (s.isOk()) {
        pk_out.clear();
        s = partitionKey(pk_text, pk_rules, &pk_out);
      }
      wipe(&pk_text, tok.size());
      if (!s.isOk()) return s.withContext(which + " partitionKey");
      const size_t rb = repl.size();
      appendCanonicalJsonString(pk_out, &repl);
      wipe(&pk_out, 0);
      edits.push_back(Edit{op.pk.begin, op.pk.end, rb, repl.size()});
    }
    return Status::ok();
  }

  // ---- responses ----------------------------------------------------------------------------

  Status protectedValue(od::value v, const FieldRule& rule) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(v.type().get(t));
    if (t != od::json_type::string) {
      ++stats.plaintext_at_protected;
      return Status::ok();
    }
    const std::string_view tok = trimWs(v.raw_json_token());
    const size_t b = off(tok.data());
    if (tok.substr(0, kEnvelopeQuoted.size()) == kEnvelopeQuoted) {
      prot.push_back(ProtectedLoc{b, b + tok.size(), &rule, false});
      return Status::ok();
    }
    bool envelope = false;
    if (tok.find('\\') != std::string_view::npos) {
      unesc.clear();
      unesc.reserve(tok.size());
      envelope =
          unescapeJsonString(tok, &unesc).isOk() && crypto::FieldCipher::hasEnvelopePrefix(unesc);
      wipe(&unesc, tok.size());
    }
    if (envelope) {
      prot.push_back(ProtectedLoc{b, b + tok.size(), &rule, true});
    } else {
      ++stats.plaintext_at_protected;
    }
    return Status::ok();
  }

  Status walkDecrypt(od::value v, const PathNode& node) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(v.type().get(t));
    if (t == od::json_type::object) {
      od::object o;
      COSMOSEAL_SJ_TRY(v.get_object().get(o));
      return walkDecryptObject(o, node);
    }
    if (t == od::json_type::array) {
      od::array a;
      COSMOSEAL_SJ_TRY(v.get_array().get(a));
      size_t index = 0;
      for (auto element_result : a) {
        od::value ev;
        COSMOSEAL_SJ_TRY(std::move(element_result).get(ev));
        const PathNode* child = node.element(index++);
        if (child == nullptr) continue;
        if (child->rule() != nullptr) {
          COSMOSEAL_RETURN_IF_ERROR(protectedValue(ev, *child->rule()));
        } else if (child->hasChildren()) {
          COSMOSEAL_RETURN_IF_ERROR(walkDecrypt(ev, *child));
        }
      }
    }
    return Status::ok();
  }

  Status walkDecryptObject(od::object& o, const PathNode& node) {
    const ChildLookup children(node);
    for (auto field_result : o) {
      od::field f;
      COSMOSEAL_SJ_TRY(std::move(field_result).get(f));
      std::string_view name;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &name));
      const PathNode* child = children.find(name);
      if (child == nullptr) continue;
      if (child->rule() != nullptr) {
        COSMOSEAL_RETURN_IF_ERROR(protectedValue(f.value(), *child->rule()));
      } else if (child->hasChildren()) {
        COSMOSEAL_RETURN_IF_ERROR(walkDecrypt(f.value(), *child));
      }
    }
    return Status::ok();
  }

  // Calls fn(value) for each member `key` of object value `v` (if it is an object).
  template <typename Fn>
  Status forMember(od::value v, std::string_view key, Fn&& fn) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(v.type().get(t));
    if (t != od::json_type::object) return Status::ok();
    od::object o;
    COSMOSEAL_SJ_TRY(v.get_object().get(o));
    for (auto field_result : o) {
      od::field f;
      COSMOSEAL_SJ_TRY(std::move(field_result).get(f));
      std::string_view name;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &name));
      if (name == key) COSMOSEAL_RETURN_IF_ERROR(fn(f.value()));
    }
    return Status::ok();
  }

  template <typename Fn>
  Status forElement(od::value v, Fn&& fn) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(v.type().get(t));
    if (t != od::json_type::array) return Status::ok();
    od::array a;
    COSMOSEAL_SJ_TRY(v.get_array().get(a));
    for (auto element_result : a) {
      od::value ev;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(ev));
      COSMOSEAL_RETURN_IF_ERROR(fn(ev));
    }
    return Status::ok();
  }

  Status feedDocument(od::value d) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(d.type().get(t));
    if (t != od::json_type::object) return Status::ok();
    od::object o;
    COSMOSEAL_SJ_TRY(d.get_object().get(o));
    return walkDecryptObject(o, policy->root());
  }

  // {current, previous, metadata}: current and previous are documents.
  Status changeFeedItem(od::value item) {
    od::json_type t;
    COSMOSEAL_SJ_TRY(item.type().get(t));
    if (t != od::json_type::object) return Status::ok();
    od::object o;
    COSMOSEAL_SJ_TRY(item.get_object().get(o));
    for (auto field_result : o) {
      od::field f;
      COSMOSEAL_SJ_TRY(std::move(field_result).get(f));
      std::string_view name;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &name));
      if (name == "current" || name == "previous") {
        COSMOSEAL_RETURN_IF_ERROR(feedDocument(f.value()));
      }
    }
    return Status::ok();
  }

  // Records the protected locations of the documents `shape` declares.
  Status walkShape(ResponseShape shape) {
    od::document doc;
    COSMOSEAL_RETURN_IF_ERROR(iterateSpan(Span{0, size}, &doc));
    od::json_type t;
    COSMOSEAL_SJ_TRY(doc.type().get(t));
    const PathNode& root = policy->root();
    auto document = [&](od::value d) { return feedDocument(d); };
    if (shape == ResponseShape::kBatchResults) {
      if (t != od::json_type::array) return Status::ok();
      od::array a;
      COSMOSEAL_SJ_TRY(doc.get_array().get(a));
      for (auto element_result : a) {
        od::value ev;
        COSMOSEAL_SJ_TRY(std::move(element_result).get(ev));
        COSMOSEAL_RETURN_IF_ERROR(forMember(ev, "resourceBody", document));
      }
      return Status::ok();
    }
    if (t != od::json_type::object) return Status::ok();
    od::object o;
    COSMOSEAL_SJ_TRY(doc.get_object().get(o));
    if (shape == ResponseShape::kDocument) return walkDecryptObject(o, root);
    for (auto field_result : o) {
      od::field f;
      COSMOSEAL_SJ_TRY(std::move(field_result).get(f));
      std::string_view name;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &name));
      if (name != "Documents") continue;
      if (shape == ResponseShape::kFeed) {
        COSMOSEAL_RETURN_IF_ERROR(forElement(f.value(), document));
      } else {  // kChangeFeedAllVersions
        COSMOSEAL_RETURN_IF_ERROR(
            forElement(f.value(), [&](od::value item) { return changeFeedItem(item); }));
      }
    }
    return Status::ok();
  }

  Status decrypt(PaddedInput in, ResponseShape shape, const ContainerPolicy* p, std::string* out,
                 TransformStats* st) {
    response = true;
    policy = p;
    stats = TransformStats{};
    const std::string_view text(in.data != nullptr ? in.data : "", in.size);
    const bool strict = p != nullptr && p->root().hasChildren() && shape != ResponseShape::kQuery &&
                        shape != ResponseShape::kAny &&
                        text.find_first_not_of(" \t\r\n") != std::string_view::npos;
    found.clear();
    internal::findEnvelopeStrings(text, &found);
    hits.clear();
    hits.reserve(found.size());
    for (const internal::EnvelopeString& f : found) {
      hits.push_back(Hit{f.begin, f.end, f.has_escape, f.is_key, nullptr});
    }
    const char* data = text.data();
    if (strict) {
      setInput(in);  // the walk needs padding; same bytes, same offsets
      data = base;
      COSMOSEAL_RETURN_IF_ERROR(walkShape(shape));
      // Both lists are in document order. Protected envelopes whose raw spelling hides the
      // prefix behind an escape were not found by the scan: add them.
      size_t h = 0;
      bool added = false;
      const size_t scanned = hits.size();
      for (const ProtectedLoc& loc : prot) {
        while (h < scanned && hits[h].begin < loc.begin) ++h;
        if (h < scanned && hits[h].begin == loc.begin) {
          hits[h].rule = loc.rule;
        } else if (loc.escaped_envelope) {
          hits.push_back(Hit{loc.begin, loc.end, true, false, loc.rule});
          added = true;
        }
      }
      if (added) {
        std::sort(hits.begin(), hits.end(),
                  [](const Hit& a, const Hit& b) { return a.begin < b.begin; });
      }
    }
    if (hits.empty()) {
      out->append(text);
      if (st != nullptr) st->add(stats);
      return Status::ok();
    }

    // Plaintext goes straight into *out. Decrypted tokens are always shorter than their
    // envelopes, so the output fits in text.size() bytes: reserve once, never reallocate
    // (a reallocation would leave a copy of plaintext in freed memory).
    const size_t orig = out->size();
    out->reserve(orig + text.size());
    size_t prev = 0;
    for (const Hit& hit : hits) {
      if (hit.begin < prev) {
        // Overlapping strings: impossible on valid JSON (the upstream sent something else).
        if (hit.rule == nullptr) continue;
        common::secureZero(out->data() + orig, out->size() - orig);
        out->resize(orig);
        return parseError(simdjson::TAPE_ERROR);
      }
      out->append(data + prev, hit.begin - prev);
      const std::string_view token(data + hit.begin, hit.end - hit.begin);
      prev = hit.end;
      if (hit.is_key && hit.rule == nullptr) {
        ++stats.lookalikes;  // member names are never decrypted
        out->append(token);
        continue;
      }
      std::string_view content = token.substr(1, token.size() - 2);
      if (hit.has_escape) {
        unesc.clear();
        unesc.reserve(token.size());
        if (unescapeJsonString(token, &unesc).isOk()) content = unesc;
      }
      std::string_view binding;
      const std::string_view* expected = nullptr;
      if (hit.rule != nullptr) {
        binding = hit.rule->binding;
        expected = &binding;
      }
      common::StatusOr<crypto::FieldCipher::Opened> opened = cipher->open(content, expected, out);
      if (hit.has_escape) wipe(&unesc, token.size());
      if (opened.isOk()) {
        ++stats.decrypted;
        stats.noteKeyId(opened->key_id);
        continue;
      }
      if (hit.rule != nullptr) {
        // At a known protected location: fail the whole response, leave *out as it was.
        common::secureZero(out->data() + orig, out->size() - orig);
        out->resize(orig);
        return opened.status().withContext("protected field " + hit.rule->pattern + " at byte " +
                                           std::to_string(hit.begin));
      }
      ++stats.lookalikes;
      out->append(token);
    }
    out->append(data + prev, text.size() - prev);
    if (st != nullptr) st->add(stats);
    return Status::ok();
  }
};

// ---------------------------------------------------------------------------------------------

JsonTransformer::JsonTransformer(crypto::FieldCipher* cipher)
    : impl_(std::make_unique<Impl>(cipher)) {}

JsonTransformer::~JsonTransformer() = default;

Status JsonTransformer::encryptDocument(PaddedInput body, const ContainerPolicy& policy,
                                        std::string* out, TransformStats* stats) {
  Impl& m = *impl_;
  Impl::CallGuard guard(m);
  COSMOSEAL_RETURN_IF_ERROR(m.beginRequest(body, &policy));
  COSMOSEAL_RETURN_IF_ERROR(m.encryptDocumentSpan(Span{0, m.size}));
  return m.finishRequest(out, stats);
}

Status JsonTransformer::encryptPatch(PaddedInput body, const ContainerPolicy& policy,
                                     std::string* out, TransformStats* stats) {
  Impl& m = *impl_;
  Impl::CallGuard guard(m);
  COSMOSEAL_RETURN_IF_ERROR(m.beginRequest(body, &policy));
  COSMOSEAL_RETURN_IF_ERROR(m.encryptPatchSpan(Span{0, m.size}));
  return m.finishRequest(out, stats);
}

Status JsonTransformer::encryptBatch(PaddedInput body, const ContainerPolicy& policy,
                                     std::span<const FieldRule* const> pk_rules, std::string* out,
                                     TransformStats* stats) {
  Impl& m = *impl_;
  Impl::CallGuard guard(m);
  COSMOSEAL_RETURN_IF_ERROR(m.beginRequest(body, &policy));
  COSMOSEAL_RETURN_IF_ERROR(m.encryptBatchBody(pk_rules));
  return m.finishRequest(out, stats);
}

Status JsonTransformer::encryptPartitionKey(std::string_view header_json,
                                            std::span<const FieldRule* const> pk_rules,
                                            std::string* out, TransformStats* stats) {
  Impl& m = *impl_;
  Impl::CallGuard guard(m);
  m.response = false;
  m.stats = TransformStats{};
  COSMOSEAL_RETURN_IF_ERROR(m.partitionKey(header_json, pk_rules, out));
  if (stats != nullptr) stats->add(m.stats);
  return Status::ok();
}

Status JsonTransformer::decryptResponse(PaddedInput body, ResponseShape shape,
                                        const ContainerPolicy* policy, std::string* out,
                                        TransformStats* stats) {
  Impl& m = *impl_;
  Impl::CallGuard guard(m);
  return m.decrypt(body, shape, policy, out, stats);
}

}  // namespace cosmoseal::policy
