#include <algorithm>

#include "common/secret_bytes.h"
#include "crypto/details.h"
#include "policy/json/internal/engine.h"
#include "policy/json/text.h"

// Decrypting responses (JsonTransformer::decryptResponse): point reads, feeds, query pages,
// batch results. The scan finds every envelope-like string; for strict shapes a walk marks the
// ones at known protected locations, which must open with the path check.

namespace cosmoseal::policy::internal {

namespace {

constexpr std::string_view kEnvelopeQuoted = "\"csx1:";
static_assert(kEnvelopeQuoted.substr(1) == crypto::kEnvelopePrefix);

// Would encryptDocument write this envelope again as it is? Not when it is outside every
// protected path, or when the rule now seals with another mode, key or version.
bool isStale(const crypto::Keyring& keyring, const FieldRule* rule,
             const crypto::FieldCipher::Opened& opened) noexcept {
  if (rule == nullptr) return true;
  const bool deterministic = rule->mode == FieldMode::kDeterministic;
  const crypto::Mode mode =
      deterministic ? crypto::Mode::kDeterministic : crypto::Mode::kRandomized;
  if (opened.mode != mode) return true;
  const crypto::KeyVersion* current =
      deterministic ? keyring.deterministic(rule->key) : keyring.primary(rule->key);
  return current == nullptr || current->id != opened.key_id;
}

}  // namespace

Status TransformEngine::protectedValue(od::value v, const FieldRule& rule) {
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

Status TransformEngine::walkDecrypt(od::value v, const PathNode& node) {
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

Status TransformEngine::walkDecryptObject(od::object& o, const PathNode& node) {
  const ChildLookup children(node);
  return forEachMember(o, [&](std::string_view name, od::field& f) -> Status {
    const PathNode* child = children.find(name);
    if (child == nullptr) return Status::ok();
    if (child->rule() != nullptr) return protectedValue(f.value(), *child->rule());
    if (child->hasChildren()) return walkDecrypt(f.value(), *child);
    return Status::ok();
  });
}

// forEachMember for `v` when it is an object; anything else has no members to visit.
template <typename Fn>
Status TransformEngine::forEachMemberOf(od::value v, Fn&& fn) {
  od::json_type t;
  COSMOSEAL_SJ_TRY(v.type().get(t));
  if (t != od::json_type::object) return Status::ok();
  od::object o;
  COSMOSEAL_SJ_TRY(v.get_object().get(o));
  return forEachMember(o, fn);
}

template <typename Fn>
Status TransformEngine::forElement(od::value v, Fn&& fn) {
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

// Calls fn(object) for every document `shape` declares: the root (kDocument), each element of
// "Documents" (kFeed) or its "current" and "previous" (kChangeFeedAllVersions), each
// "resourceBody" of the top-level array (kBatchResults). A document that is not an object, or a
// body of another shape, has nothing to visit. The one navigation of strict shapes: walkShape()
// and locateStrays() both go through here.
template <typename Fn>
Status TransformEngine::forEachDocument(ResponseShape shape, Fn&& fn) {
  auto document = [&](od::value d) -> Status {
    od::json_type dt;
    COSMOSEAL_SJ_TRY(d.type().get(dt));
    if (dt != od::json_type::object) return Status::ok();
    od::object o;
    COSMOSEAL_SJ_TRY(d.get_object().get(o));
    return fn(o);
  };
  od::document doc;
  COSMOSEAL_RETURN_IF_ERROR(iterateSpan(Span{0, size}, &doc));
  od::json_type t;
  COSMOSEAL_SJ_TRY(doc.type().get(t));
  if (shape == ResponseShape::kBatchResults) {
    if (t != od::json_type::array) return Status::ok();
    od::array a;
    COSMOSEAL_SJ_TRY(doc.get_array().get(a));
    for (auto element_result : a) {
      od::value ev;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(ev));
      COSMOSEAL_RETURN_IF_ERROR(
          forEachMemberOf(ev, [&](std::string_view name, od::field& f) -> Status {
            return name == "resourceBody" ? document(f.value()) : Status::ok();
          }));
    }
    return Status::ok();
  }
  if (t != od::json_type::object) return Status::ok();
  od::object o;
  COSMOSEAL_SJ_TRY(doc.get_object().get(o));
  if (shape == ResponseShape::kDocument) return fn(o);
  if (shape != ResponseShape::kFeed && shape != ResponseShape::kChangeFeedAllVersions) {
    return Status::ok();
  }
  return forEachMember(o, [&](std::string_view name, od::field& f) -> Status {
    if (name != "Documents") return Status::ok();
    if (shape == ResponseShape::kFeed) return forElement(f.value(), document);
    // {current, previous, metadata}: current and previous are documents.
    return forElement(f.value(), [&](od::value item) {
      return forEachMemberOf(item, [&](std::string_view n, od::field& g) -> Status {
        return n == "current" || n == "previous" ? document(g.value()) : Status::ok();
      });
    });
  });
}

// Records the protected locations of the documents `shape` declares.
Status TransformEngine::walkShape(ResponseShape shape) {
  return forEachDocument(shape, [&](od::object& o) { return walkDecryptObject(o, policy->root()); });
}

// The binding recorded for the stray string opening at `begin`, or nullptr if it is not one.
const std::string* TransformEngine::strayBinding(size_t begin) const noexcept {
  const auto it = std::lower_bound(stray_begins.begin(), stray_begins.end(), begin);
  if (it == stray_begins.end() || *it != begin) return nullptr;
  return &stray_bindings[static_cast<size_t>(it - stray_begins.begin())];
}

// Visits every value under `v`, `path` being v's JSON pointer; records the binding of each stray
// string met. Recursion depth is bounded by the parser's maximum depth.
Status TransformEngine::bindStrays(od::value v, std::string* path, std::string_view prefix) {
  od::json_type t;
  COSMOSEAL_SJ_TRY(v.type().get(t));
  const size_t mark = path->size();
  if (t == od::json_type::object) {
    od::object o;
    COSMOSEAL_SJ_TRY(v.get_object().get(o));
    return bindStraysIn(o, path, prefix);
  }
  if (t == od::json_type::array) {
    od::array a;
    COSMOSEAL_SJ_TRY(v.get_array().get(a));
    size_t index = 0;
    for (auto element_result : a) {
      od::value ev;
      COSMOSEAL_SJ_TRY(std::move(element_result).get(ev));
      path->push_back('/');
      path->append(std::to_string(index++));
      Status s = bindStrays(ev, path, prefix);
      path->resize(mark);
      COSMOSEAL_RETURN_IF_ERROR(s);
    }
    return Status::ok();
  }
  if (t == od::json_type::string) {
    const std::string_view tok = trimWs(v.raw_json_token());
    const auto it = std::lower_bound(stray_begins.begin(), stray_begins.end(), off(tok.data()));
    if (it != stray_begins.end() && *it == off(tok.data())) {
      std::string& b = stray_bindings[static_cast<size_t>(it - stray_begins.begin())];
      b.assign(prefix);
      b.append(*path);
    }
  }
  return Status::ok();
}

Status TransformEngine::bindStraysIn(od::object& o, std::string* path, std::string_view prefix) {
  const size_t mark = path->size();
  return forEachMember(o, [&](std::string_view name, od::field& f) -> Status {
    path->push_back('/');
    path->append(escapePathSegment(name));
    Status s = bindStrays(f.value(), path, prefix);
    path->resize(mark);
    return s;
  });
}

// Where the shape says which values are documents, every envelope sits at a known place: give
// the strays (envelopes outside protected locations) the binding of that place, so that one
// cut from another field fails its path check instead of opening (DESIGN.md section 5).
Status TransformEngine::locateStrays(ResponseShape shape) {
  std::string prefix = policy->database();
  prefix += '/';
  prefix += policy->container();
  prefix += ':';
  std::string path;
  return forEachDocument(shape, [&](od::object& o) { return bindStraysIn(o, &path, prefix); });
}

Status TransformEngine::decrypt(PaddedInput in, ResponseShape shape, const ContainerPolicy* p,
                                std::string* out, TransformStats* st) {
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
    stray_begins.clear();
    for (const Hit& hit : hits) {
      if (hit.rule == nullptr && !hit.is_key) stray_begins.push_back(hit.begin);
    }
    if (!stray_begins.empty()) {
      // Rare (an envelope outside every protected location): a second walk finds their places.
      stray_bindings.assign(stray_begins.size(), std::string());
      COSMOSEAL_RETURN_IF_ERROR(locateStrays(shape));
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
    const std::string* stray = nullptr;
    if (hit.rule != nullptr) {
      binding = hit.rule->binding;
      expected = &binding;
    } else if (strict && (stray = strayBinding(hit.begin)) != nullptr) {
      binding = *stray;  // empty outside every document: matches no envelope's path tag
      expected = &binding;
    }
    common::StatusOr<crypto::FieldCipher::Opened> opened = cipher->open(content, expected, out);
    if (hit.has_escape) wipe(&unesc, token.size());
    if (opened.isOk()) {
      ++stats.decrypted;
      stats.noteKeyId(opened->key_id);
      if (strict && isStale(*cipher->keyring(), hit.rule, *opened)) ++stats.stale_envelopes;
      continue;
    }
    if (hit.rule != nullptr) {
      // At a known protected location: fail the whole response, leave *out as it was.
      common::secureZero(out->data() + orig, out->size() - orig);
      out->resize(orig);
      return opened.status().withContext("protected field " + hit.rule->pattern + " at byte " +
                                         std::to_string(hit.begin));
    }
    if (stray != nullptr && opened.status().detail() == crypto::crypto_detail::kPathMismatch) {
      // An authentic envelope sealed for another place: a cut and paste. Fail closed.
      common::secureZero(out->data() + orig, out->size() - orig);
      out->resize(orig);
      const size_t prefix = policy->database().size() + policy->container().size() + 2;
      const std::string_view where = stray->empty() ? std::string_view("outside every document")
                                                    : std::string_view(*stray).substr(prefix);
      return opened.status().withContext("envelope at unprotected path " + std::string(where) +
                                         " at byte " + std::to_string(hit.begin));
    }
    ++stats.lookalikes;
    out->append(token);
  }
  out->append(data + prev, text.size() - prev);
  if (st != nullptr) st->add(stats);
  return Status::ok();
}

}  // namespace cosmoseal::policy::internal
