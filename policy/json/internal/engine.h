#pragma once

// The transform engine behind JsonTransformer (policy/json/transformer.h): the per-call state,
// the scratch buffers and the walking and sealing primitives every body kind shares. Internal:
// only policy/json/*.cc include it.
//
// One TransformEngine per JsonTransformer (so per worker thread); not thread-safe. Its member
// functions are defined next to the body kind they serve:
//   transformer.cc     the shared engine: call setup and cleanup, input padding, member names and
//                      raw values, sealing, the lookalike check and the splice
//   document.cc        create/replace/upsert bodies (the trie walk that seals)
//   patch.cc           PATCH bodies (operations and the condition)
//   batch.cc           transactional batch and bulk bodies
//   partition_key.cc   the x-ms-documentdb-partitionkey header (also per batch operation)
//   response.cc        decrypting reads, feeds, query results
//
// Ownership: the engine owns every scratch buffer below; views it hands out (member names,
// spans) point into the current body or into `arena` and die with the call (endCall()).
// Plaintext scratch is cleansed on every return path (CallGuard). Failures are Status values
// with the detail codes documented in transformer.h; nothing throws on the data path.

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/field_cipher.h"
#include "policy/json/internal/scan.h"
#include "policy/json/transformer.h"
#include "policy/policy.h"

namespace cosmoseal::policy::internal {

namespace od = simdjson::ondemand;
using common::Code;
using common::Status;
using crypto::ValueType;

// Returns from the enclosing TransformEngine member function when a simdjson call fails. On
// requests the body was validated first, so this is not expected there (reported as 400
// policy.bad_json); on responses it means the body is not JSON the walk can follow (502
// policy.bad_response).
#define COSMOSEAL_SJ_TRY(expr)                                    \
  do {                                                            \
    const simdjson::error_code sj_err_ = (expr);                  \
    if (sj_err_ != simdjson::SUCCESS) return parseError(sj_err_); \
  } while (0)

using common::invalidArgument;

inline bool isWs(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// simdjson's raw tokens include the whitespace up to the next token.
inline std::string_view trimWs(std::string_view s) noexcept {
  while (!s.empty() && isWs(s.back())) s.remove_suffix(1);
  return s;
}

// A client-supplied name quoted for an error message: short and printable.
std::string squote(std::string_view s);

// Overwrites every byte a scratch string may have held (up to `bound`, at least its size) and
// empties it. Resizing within capacity never reallocates, so no copy is left behind.
void wipe(std::string* s, size_t bound) noexcept;

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

inline ValueType scalarType(od::json_type t, std::string_view tok) noexcept {
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

// All state is public to the engine's own files; JsonTransformer is its only user.
struct TransformEngine {
  explicit TransformEngine(crypto::FieldCipher* c) : cipher(c) {}

  crypto::FieldCipher* cipher;
  od::parser parser;

  // ---- per call ----
  const char* base = nullptr;  // the body (the caller's buffer or `padded`)
  size_t size = 0;
  size_t cap = 0;  // readable bytes at base (>= size + kJsonPadding)
  bool response = false;
  const ContainerPolicy* policy = nullptr;
  // The container's data may be mixed (query/rewriter.h MixedData): patch conditions follow it.
  const MixedData* mixed = nullptr;
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
  // Strict response shapes: the envelope-like value strings the walk did not find at a
  // protected location (offsets of their opening quotes, in order) and, in step, the binding of
  // the place each sits at ("db/coll:" + its concrete JSON pointer; empty when it is outside
  // every document). Filled only when there is such a string (locateStrays()).
  std::vector<size_t> stray_begins;
  std::vector<std::string> stray_bindings;
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
    explicit CallGuard(TransformEngine& m) : m(m) {}
    ~CallGuard() { m.endCall(); }
    TransformEngine& m;
  };

  struct KeyScope {
    explicit KeyScope(TransformEngine& m) : m(m) {
      if (m.keyset_depth == m.keysets.size()) m.keysets.emplace_back();
      set = &m.keysets[m.keyset_depth++];
      set->reset();
    }
    ~KeyScope() { --m.keyset_depth; }
    TransformEngine& m;
    KeySet* set;
  };

  // ---- the shared engine (transformer.cc) ----------------------------------------------------

  void endCall() noexcept;
  Status parseError(simdjson::error_code e) const;
  void setInput(PaddedInput in);
  Status beginRequest(PaddedInput in, const ContainerPolicy* p, const MixedData* mixed);
  uint32_t keyIdFor(const FieldRule& rule);
  Status arenaUnescape(std::string_view token, std::string_view* out);
  Status stringValue(od::value v, std::string_view* out);
  Status rawValue(od::value v, std::string_view* tok, od::json_type* type);
  Status sealToken(std::string_view tok, ValueType vt, const FieldRule& rule, std::string* dst);
  Status sealEdit(std::string_view tok, ValueType vt, const FieldRule& rule);
  Status sealValue(od::value v, const FieldRule& rule);
  Status duplicate(std::string_view name, const char* where) const;
  // policy.bad_member_name when `name` (unescaped) has a control character; `where` says where
  // it was found ("at byte 12").
  Status checkMemberName(std::string_view name, std::string_view where) const;
  Status iterateSpan(Span s, od::document* doc);
  Status checkLookalikes(std::string_view text, const std::vector<Edit>& sorted_edits,
                         std::vector<internal::EnvelopeString>* scratch);
  static void sortEdits(std::vector<Edit>* v);
  static Status splice(std::string_view text, const std::vector<Edit>& sorted_edits,
                       std::string_view replacements, std::string* out);
  Status finishRequest(std::string* out, TransformStats* st);

  size_t off(const char* p) const noexcept { return static_cast<size_t>(p - base); }

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
    // Raw control characters are refused by validation; escaped ones are refused here, on
    // writes: a name like "ssn\u0000" is another member to us but may not be to every reader.
    if (s.isOk() && !response) return checkMemberName(*name, "at byte " + std::to_string(off(raw)));
    return s;
  }

  // Calls fn(name, field) for each member of `o`, in order, with the name unescaped; stops at
  // the first failure. Every object the engine reads member by member is read through here.
  template <typename Fn>
  Status forEachMember(od::object& o, Fn&& fn) {
    for (auto field_result : o) {
      od::field f;
      COSMOSEAL_SJ_TRY(std::move(field_result).get(f));
      std::string_view name;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &name));
      COSMOSEAL_RETURN_IF_ERROR(fn(name, f));
    }
    return Status::ok();
  }

  // forEachMember for requests: a name seen twice in the object is refused
  // (policy.duplicate_key) before fn sees it. Every object the write transforms read is read
  // through here.
  template <typename Fn>
  Status forEachUniqueMember(od::object& o, Fn&& fn) {
    KeyScope keys(*this);
    return forEachMember(o, [&](std::string_view name, od::field& f) -> Status {
      if (!keys.set->insert(name)) return duplicate(name, f.key().raw());
      return fn(name, f);
    });
  }

  // ---- documents (document.cc) --------------------------------------------------------------

  Status walkEncrypt(od::value v, const PathNode& node);
  Status walkEncryptObject(od::object& o, const PathNode& node);
  Status walkEncryptArray(od::array& a, const PathNode& node);
  Status encryptDocumentSpan(Span s);
  Status encryptBelow(Span s, od::json_type type, const PathNode& node);

  // ---- patch (patch.cc) ---------------------------------------------------------------------

  struct Resolved {
    PathRelation relation = PathRelation::kUnprotected;
    const PathNode* node = nullptr;   // kContainsProtected: the node at the path
    const FieldRule* rule = nullptr;  // kProtected / kInsideProtected
  };

  Status collectPatchOps(od::array& ops);
  Status resolvePatchPath(std::string_view path, Resolved* r);
  Status applyPatchOp(const PatchOp& op, size_t index);
  Status rewriteCondition(std::string_view cond, std::string_view token);
  Status encryptPatchSpan(Span s);

  // ---- partition key (partition_key.cc) -----------------------------------------------------

  Status partitionKey(std::string_view json, std::span<const FieldRule* const> rules,
                      std::string* dst);

  // ---- batch (batch.cc) ---------------------------------------------------------------------

  Status encryptBatchBody(std::span<const FieldRule* const> pk_rules);
  // policy.binary_batch when `body` is not JSON text but a binary batch (checked before the
  // JSON validation, which would give a misleading policy.bad_json).
  static Status refuseBinaryBatch(std::string_view body);

  // ---- responses (response.cc) --------------------------------------------------------------

  Status protectedValue(od::value v, const FieldRule& rule);
  Status walkDecrypt(od::value v, const PathNode& node);
  Status walkDecryptObject(od::object& o, const PathNode& node);
  template <typename Fn>
  Status forEachMemberOf(od::value v, Fn&& fn);
  template <typename Fn>
  Status forElement(od::value v, Fn&& fn);
  template <typename Fn>
  Status forEachDocument(ResponseShape shape, Fn&& fn);
  Status walkShape(ResponseShape shape);
  Status locateStrays(ResponseShape shape);
  Status bindStrays(od::value v, std::string* path, std::string_view prefix);
  Status bindStraysIn(od::object& o, std::string* path, std::string_view prefix);
  const std::string* strayBinding(size_t begin) const noexcept;
  Status decrypt(PaddedInput in, ResponseShape shape, const ContainerPolicy* p, std::string* out,
                 TransformStats* st);
};

}  // namespace cosmoseal::policy::internal
