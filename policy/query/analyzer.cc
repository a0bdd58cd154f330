#include "policy/query/analyzer.h"

// The analyzer walks the parsed query with scopes of aliases, evaluates every expression to an
// abstract value (below) and records refusals (the first one wins), the literals to seal and
// how each @parameter is used.

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "policy/json/text.h"
#include "policy/query/parser.h"
#include "policy/query/rewriter.h"

namespace cosmoseal::policy {

using common::Code;
using common::Status;
using crypto::FieldCipher;
using crypto::ValueType;

namespace qd = query_detail;

namespace {

// ---------------------------------------------------------------------------------------------
// Abstract values
//
// The analyzer evaluates every expression to what encryption does to it:
//   kPlain      unaffected: the server sees the same value as without cosmoseal;
//   kProtected  exactly a protected field's value: on the server it is an envelope string;
//   kContainer  an object/array with protected fields somewhere inside (a document, c.cards):
//               fine to project (decrypted on the way back), wrong to compare or compute on;
//   kOpaque     may or may not be protected (t.number when only /cards/0/number is, or
//               `c.ssn ?? 'x'`): fine to project, nothing else.
// A value read from a document path keeps that path (segments), so that `.name` / `[i]` and
// iteration can continue it.

struct Seg {
  bool any = false;  // any member / element (iteration, dynamic index)
  std::string name;  // member name or decimal index
};

struct Val {
  enum class K : uint8_t { kPlain, kProtected, kContainer, kOpaque };
  K k = K::kPlain;
  const FieldRule* rule = nullptr;  // kProtected; kOpaque: one of the rules it may be
  bool has_path = false;
  std::vector<Seg> segs;
  bool container_root = false;  // the container's document itself (FROM <container>)

  bool plain() const noexcept { return k == K::kPlain; }
  bool isProtected() const noexcept { return k == K::kProtected; }
  bool randomized() const noexcept {
    return k == K::kProtected && rule->mode == FieldMode::kRandomized;
  }
};

bool sameRule(const FieldRule* a, const FieldRule* b) noexcept {
  if (a == b) return true;
  if (a == nullptr || b == nullptr) return false;
  return a->mode == b->mode && a->key == b->key && a->binding == b->binding;
}

std::string renderPath(const std::vector<Seg>& segs) {
  if (segs.empty()) return "/";
  std::string out;
  for (const Seg& s : segs) {
    out.push_back('/');
    out += s.any ? std::string("*") : escapePathSegment(s.name);
  }
  return out;
}

const char* modeWord(const FieldRule* r) {
  return r->mode == FieldMode::kRandomized ? "randomized" : "deterministic";
}

std::string describe(const Val& v) {
  switch (v.k) {
    case Val::K::kPlain:
      return "an unprotected value";
    case Val::K::kProtected:
      return "protected field " + v.rule->pattern + " (" + modeWord(v.rule) + ")";
    case Val::K::kContainer:
      if (v.has_path) {
        return v.container_root ? std::string("the whole document, which contains protected fields")
                                : renderPath(v.segs) + ", which contains protected fields";
      }
      return "a value built from protected fields";
    case Val::K::kOpaque:
      if (v.has_path && v.rule != nullptr) {
        return renderPath(v.segs) + ", which may be the protected field " + v.rule->pattern;
      }
      return "a value that may hold protected fields";
  }
  return "a value";
}

// Combines the possible values of ?: and ?? branches.
Val joinVals(const Val& a, const Val& b) {
  Val out;
  if (a.plain() && b.plain()) return out;
  if (a.isProtected() && b.isProtected() && sameRule(a.rule, b.rule)) {
    out.k = Val::K::kProtected;
    out.rule = a.rule;
    return out;
  }
  if (a.k == Val::K::kProtected || a.k == Val::K::kOpaque || b.k == Val::K::kProtected ||
      b.k == Val::K::kOpaque) {
    out.k = Val::K::kOpaque;
    out.rule = a.rule != nullptr ? a.rule : b.rule;
    return out;
  }
  out.k = Val::K::kContainer;
  return out;
}

// A canonical array index ("0", "12"): the spelling PathNode::element() / member() match.
bool isIndexSpelling(std::string_view s) noexcept {
  if (s.empty() || s.size() > 9) return false;
  if (s[0] == '0') return s.size() == 1;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string upperAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return out;
}

bool isTypeCheck(std::string_view f) noexcept {
  static constexpr std::string_view kNames[] = {"IS_ARRAY",  "IS_BOOL",          "IS_NULL",
                                                "IS_NUMBER", "IS_OBJECT",        "IS_PRIMITIVE",
                                                "IS_STRING", "IS_FINITE_NUMBER", "IS_INTEGER"};
  return std::find(std::begin(kNames), std::end(kNames), f) != std::end(kNames);
}

bool isAggregate(std::string_view f) noexcept {
  return f == "COUNT" || f == "SUM" || f == "AVG" || f == "MIN" || f == "MAX";
}

struct Scope {
  const Scope* parent = nullptr;
  bool container_level = false;  // a FROM identifier not bound in scope names the container
  std::vector<std::pair<std::string, Val>> bindings;

  const Val* find(std::string_view name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent) {
      for (auto it = s->bindings.rbegin(); it != s->bindings.rend(); ++it) {
        if (it->first == name) return &it->second;
      }
    }
    return nullptr;
  }
};

class Analyzer {
 public:
  // `no_parameters`: a patch condition, which has no parameter values to encrypt.
  Analyzer(const ContainerPolicy& policy, std::string_view text, bool no_parameters)
      : policy_(policy), text_(text), no_parameters_(no_parameters) {}

  Status run(const Query& root) {
    top_query_ = &root;
    analyzeQuery(root, nullptr, /*container_level=*/true);
    return error_;
  }

  std::vector<LiteralRewrite>& literalRewrites() { return literals_; }
  std::vector<EqualitySite>& equalitySites() { return sites_; }
  const std::map<std::string, ParamUse>& params() const { return params_; }
  bool selectStar() const noexcept { return select_star_; }
  std::string protectedPath() const {
    return read_paths_.empty() ? std::string() : read_paths_.begin()->first;
  }

 private:
  bool ok() const noexcept { return error_.isOk(); }

  void fail(std::string_view code, std::string message) {
    if (ok()) error_ = Status(Code::kInvalidArgument, code, std::move(message));
  }
  std::string where(const Expr* e) const {
    return e == nullptr ? std::string() : " (at " + describePosition(text_, e->begin) + ")";
  }

  // A refusal for a non-plain operand. Comparison-like uses (`predicate`) of a randomized
  // field always report query.predicate_on_randomized.
  void refuse(const Val& v, std::string_view code, std::string_view operation, const Expr* at,
              bool predicate, std::string_view hint = {}) {
    if (predicate && v.randomized()) {
      fail(qd::kPredicateOnRandomized,
           std::string(operation) + " on " + describe(v) +
               ": randomized encryption supports no predicate (only projection and "
               "IS_DEFINED)" +
               where(at));
      return;
    }
    std::string msg = std::string(operation) + " on " + describe(v);
    if (!hint.empty()) msg += ": " + std::string(hint);
    fail(code, msg + where(at));
  }

  // ---- document paths ----

  // Walks the policy trie along `segs` (an `any` segment follows every child).
  Val classify(std::vector<Seg> segs, const Expr* at) {
    Val out;
    out.has_path = true;
    std::vector<const PathNode*> frontier{&policy_.root()};
    bool plain = false;
    bool container = false;
    bool mixed = false;
    const FieldRule* prot = nullptr;
    const FieldRule* inside = nullptr;
    for (size_t i = 0; i < segs.size() && !frontier.empty(); ++i) {
      const bool last = i + 1 == segs.size();
      std::vector<const PathNode*> next;
      auto visit = [&](const PathNode* child) {
        if (child == nullptr) {
          plain = true;
        } else if (child->rule() != nullptr) {
          if (!last) {
            inside = child->rule();
          } else if (prot == nullptr) {
            prot = child->rule();
          } else if (!sameRule(prot, child->rule())) {
            mixed = true;
          }
        } else if (std::find(next.begin(), next.end(), child) == next.end()) {
          next.push_back(child);
        }
      };
      for (const PathNode* node : frontier) {
        if (!segs[i].any) {
          visit(node->member(segs[i].name));
          continue;
        }
        for (const auto& [name, child] : node->named()) visit(child.get());
        if (node->wildcard() != nullptr) {
          visit(node->wildcard());
        } else {
          plain = true;
        }
      }
      frontier = std::move(next);
    }
    for (const PathNode* node : frontier) {
      if (node->hasChildren()) {
        container = true;
      } else {
        plain = true;
      }
    }
    out.segs = std::move(segs);
    if (inside != nullptr) {
      fail(qd::kInsideProtected,
           "path " + renderPath(out.segs) + " lies inside protected field " + inside->pattern +
               ", which is stored as one ciphertext: nothing inside it can be read by the "
               "database" +
               where(at));
      return out;
    }
    if (prot != nullptr) {
      out.rule = prot;
      out.k = (plain || container || mixed) ? Val::K::kOpaque : Val::K::kProtected;
    } else if (container) {
      out.k = Val::K::kContainer;
    }
    if (!out.plain() && !out.segs.empty()) ++read_paths_[renderPath(out.segs)];
    return out;
  }

  // `base` is only a step towards a longer path: it is not read by itself.
  void extended(const Val& base) {
    if (base.plain() || base.segs.empty()) return;
    auto it = read_paths_.find(renderPath(base.segs));
    if (it != read_paths_.end() && --it->second == 0) read_paths_.erase(it);
  }

  Val member(const Val& base, Seg seg, const Expr* at) {
    if (base.has_path) {
      extended(base);
      // classify() reports a path below a protected field (query.inside_protected).
      std::vector<Seg> segs = base.segs;
      segs.push_back(std::move(seg));
      return classify(std::move(segs), at);
    }
    Val out;
    switch (base.k) {
      case Val::K::kPlain:
        break;
      case Val::K::kProtected:
        fail(qd::kInsideProtected, "property access inside protected field " + base.rule->pattern +
                                       ", which is stored as one ciphertext" + where(at));
        break;
      case Val::K::kContainer:
      case Val::K::kOpaque:
        out.k = Val::K::kOpaque;
        break;
    }
    return out;
  }

  // The value of each element when iterating `v` (JOIN x IN v, FROM x IN v).
  Val iterate(const Val& v, const Expr* at) {
    if (v.isProtected()) {
      fail(qd::kUnsupportedOnProtected,
           "JOIN/IN iteration over " + describe(v) +
               ": the whole value is one ciphertext on the server, so there is nothing to "
               "iterate; project the field instead" +
               where(at));
      return Val{};
    }
    if (v.has_path) {
      extended(v);
      std::vector<Seg> segs = v.segs;
      segs.push_back(Seg{true, ""});
      return classify(std::move(segs), at);
    }
    Val out;
    if (!v.plain()) out.k = Val::K::kOpaque;
    return out;
  }

  // ---- parameters and literals in rewrite positions ----

  static const Expr* rewritable(const Expr* e) noexcept {
    return e->kind == ExprKind::kLiteral || e->kind == ExprKind::kParam ? e : nullptr;
  }

  void paramPlain(const Expr* p) {
    ParamUse& u = params_[p->text];
    u.name = p->text;
    if (u.rule != nullptr) {
      fail(qd::kParameterConflict,
           "parameter " + p->text + " is compared with protected field " + u.rule->pattern +
               " (so its value is encrypted) and also used where it must stay plaintext; use "
               "two parameters" +
               where(p));
      return;
    }
    u.plain = true;
  }

  void paramRewrite(const Expr* p, const FieldRule* rule, bool array) {
    ParamUse& u = params_[p->text];
    u.name = p->text;
    if (u.plain) {
      fail(qd::kParameterConflict,
           "parameter " + p->text + " is compared with protected field " + rule->pattern +
               " (so its value is encrypted) and also used where it must stay plaintext; use "
               "two parameters" +
               where(p));
      return;
    }
    if (u.rule != nullptr && (!sameRule(u.rule, rule) || u.array != array)) {
      fail(qd::kParameterConflict,
           "parameter " + p->text + " is compared with protected fields " + u.rule->pattern +
               " and " + rule->pattern +
               (u.array != array ? std::string(" (once as an array, once as a single value)")
                                 : std::string(", which encrypt differently")) +
               "; use one parameter per field" + where(p));
      return;
    }
    u.rule = rule;
    u.array = array;
  }

  // Records that literal/parameter `e` must be encrypted for `rule`, in equality `site` (the
  // predicate, or `e` itself for a list item) of kind `kind`.
  void rewrite(const Expr* e, const FieldRule* rule, bool array, const Expr* site,
               EqualitySite::Kind kind, bool negated = false) {
    EqualitySite es;
    es.kind = kind;
    es.begin = site->begin;
    es.end = site->end;
    es.item_begin = e->begin;
    es.item_end = e->end;
    es.negated = negated;
    es.rule = rule;
    if (e->kind == ExprKind::kParam) es.param = e->text;
    sites_.push_back(std::move(es));
    if (e->kind == ExprKind::kParam) {
      if (no_parameters_) {
        fail(qd::kUnsupportedOnProtected,
             "parameter " + e->text + " is compared with protected field " + rule->pattern +
                 ", but a patch condition has no parameter values to encrypt; write a literal" +
                 where(e));
        return;
      }
      paramRewrite(e, rule, array);
      return;
    }
    LiteralRewrite lr;
    lr.begin = e->begin;
    lr.end = e->end;
    lr.rule = rule;
    switch (e->lit) {
      case LiteralKind::kString:
        if (FieldCipher::hasEnvelopePrefix(e->text)) return;  // already an envelope
        lr.type = ValueType::kString;
        appendCanonicalJsonString(e->text, &lr.token);
        break;
      case LiteralKind::kNumber:
        if (!isJsonNumber(e->text)) {
          fail(qd::kUnsupportedOnProtected,
               "a number literal compared with protected field " + rule->pattern +
                   " is not spelled as a JSON number (e.g. .5, 5., 007 or +5); write it as one "
                   "(5, 5.0 and 5e0 all match the same documents)" +
                   where(e));
          return;
        }
        lr.type = ValueType::kNumber;
        // The canonical spelling, as documents are sealed: Cosmos compares numbers as doubles.
        if (Status st = appendCanonicalNumber(e->text, &lr.token); !st.isOk()) {
          fail(qd::kNumberOutOfRange, std::string(st.message()) + where(e));
          return;
        }
        break;
      case LiteralKind::kTrue:
        lr.type = ValueType::kTrue;
        lr.token = "true";
        break;
      case LiteralKind::kFalse:
        lr.type = ValueType::kFalse;
        lr.token = "false";
        break;
      case LiteralKind::kNull:
        lr.type = ValueType::kNull;
        lr.token = "null";
        break;
      case LiteralKind::kUndefined:
        return;  // never equal to anything, with or without encryption
    }
    literals_.push_back(std::move(lr));
    sites_.back().sealed = true;
  }

  // ---- conditions ----

  void requireCondition(const Val& v, std::string_view context, const Expr* at) {
    if (v.plain()) return;
    refuse(v, qd::kUnsupportedOnProtected,
           std::string("use as a condition (") + std::string(context) + ")", at, /*predicate=*/true,
           "the server sees ciphertext, not a boolean; compare the field with a literal "
           "instead (c.flag = true)");
  }

  // ---- expressions ----

  Val eval(const Expr* e, const Scope& scope) {
    if (!ok()) return Val{};
    switch (e->kind) {
      case ExprKind::kLiteral:
        return Val{};
      case ExprKind::kParam:
        paramPlain(e);
        return Val{};
      case ExprKind::kIdent: {
        const Val* b = scope.find(e->text);
        if (b == nullptr) {
          fail(qd::kUnknownIdentifier,
               "identifier '" + e->text +
                   "' is not an alias of the FROM clause in scope (aliases and keywords such as "
                   "true, false, null are case-sensitive)" +
                   where(e));
          return Val{};
        }
        return *b;
      }
      case ExprKind::kMember: {
        Val base = eval(e->args[0], scope);
        if (!ok()) return Val{};
        return member(base, Seg{false, e->text}, e);
      }
      case ExprKind::kIndex:
        return index(e, scope);
      case ExprKind::kUnary: {
        Val v = eval(e->args[0], scope);
        if (!ok()) return Val{};
        if (e->op == Op::kNot) {
          requireCondition(v, "NOT", e);
        } else if (!v.plain()) {
          refuse(v, qd::kOperatorOnProtected, "operator " + std::string(opName(e->op)), e,
                 /*predicate=*/false, "the server would compute on ciphertext");
        }
        return Val{};
      }
      case ExprKind::kBinary:
        return binary(e, scope);
      case ExprKind::kAnd:
      case ExprKind::kOr:
        for (const Expr* a : e->args) {
          Val v = eval(a, scope);
          if (!ok()) return Val{};
          requireCondition(v, e->kind == ExprKind::kAnd ? "AND" : "OR", a);
        }
        return Val{};
      case ExprKind::kIn:
        return inList(e, scope);
      case ExprKind::kLike: {
        for (size_t i = 0; i < e->args.size(); ++i) {
          Val v = eval(e->args[i], scope);
          if (!ok()) return Val{};
          if (!v.plain()) {
            refuse(v, qd::kFunctionOnProtected, "LIKE", e, /*predicate=*/true,
                   "pattern matching cannot work on ciphertext");
            return Val{};
          }
        }
        return Val{};
      }
      case ExprKind::kBetween: {
        for (const Expr* a : e->args) {
          Val v = eval(a, scope);
          if (!ok()) return Val{};
          if (!v.plain()) {
            refuse(v, qd::kRangeOnProtected, "BETWEEN", e, /*predicate=*/true,
                   "encryption does not preserve order; only equality works on deterministic "
                   "fields");
            return Val{};
          }
        }
        return Val{};
      }
      case ExprKind::kTernary: {
        Val c = eval(e->args[0], scope);
        if (!ok()) return Val{};
        requireCondition(c, "?:", e->args[0]);
        Val a = eval(e->args[1], scope);
        Val b = eval(e->args[2], scope);
        return joinVals(a, b);
      }
      case ExprKind::kCoalesce: {
        Val a = eval(e->args[0], scope);
        Val b = eval(e->args[1], scope);
        return joinVals(a, b);
      }
      case ExprKind::kCall:
        return call(e, scope);
      case ExprKind::kObject:
      case ExprKind::kArray: {
        Val out;
        for (const Expr* a : e->args) {
          Val v = eval(a, scope);
          if (!v.plain()) out.k = Val::K::kContainer;
        }
        return out;
      }
      case ExprKind::kSubquery:
      case ExprKind::kFirstQuery:
      case ExprKind::kLastQuery: {
        Val row = analyzeQuery(*e->query, &scope, /*container_level=*/false);
        row.container_root = false;
        return row;
      }
      case ExprKind::kExists:
        analyzeQuery(*e->query, &scope, false);
        return Val{};
      case ExprKind::kArrayQuery: {
        Val row = analyzeQuery(*e->query, &scope, false);
        Val out;
        if (!row.plain()) out.k = Val::K::kContainer;
        return out;
      }
      case ExprKind::kAllQuery: {
        Val row = analyzeQuery(*e->query, &scope, false);
        if (ok()) requireCondition(row, "ALL", e);
        return Val{};
      }
    }
    return Val{};
  }

  Val index(const Expr* e, const Scope& scope) {
    Val base = eval(e->args[0], scope);
    if (!ok()) return Val{};
    const Expr* ix = e->args[1];
    Seg seg;
    const bool static_index =
        ix->kind == ExprKind::kLiteral &&
        (ix->lit == LiteralKind::kString ||
         (ix->lit == LiteralKind::kNumber && isIndexSpelling(ix->text)));
    if (static_index) {
      seg.name = ix->text;
    } else {
      // Dynamic (or odd) index: any member or element may be meant.
      Val iv = eval(ix, scope);
      if (!ok()) return Val{};
      if (!iv.plain()) {
        refuse(iv, qd::kOperatorOnProtected, "use as a property name or index", ix, false,
               "the server would see ciphertext");
        return Val{};
      }
      seg.any = true;
    }
    return member(base, std::move(seg), e);
  }

  static bool isComparison(Op op) noexcept {
    return op == Op::kEq || op == Op::kNe || op == Op::kLt || op == Op::kLe || op == Op::kGt ||
           op == Op::kGe;
  }

  Val binary(const Expr* e, const Scope& scope) {
    const Expr* l = e->args[0];
    const Expr* r = e->args[1];
    if (!isComparison(e->op)) {
      Val lv = eval(l, scope);
      Val rv = eval(r, scope);
      if (!ok()) return Val{};
      const Val& bad = lv.plain() ? rv : lv;
      if (!bad.plain()) {
        refuse(bad, qd::kOperatorOnProtected, "operator " + std::string(opName(e->op)), e, false,
               "arithmetic, bitwise and string operators cannot work on ciphertext");
      }
      return Val{};
    }
    const bool equality = e->op == Op::kEq || e->op == Op::kNe;
    const std::string operation = "comparison '" + std::string(opName(e->op)) + "'";
    const Expr* lo = rewritable(l);
    const Expr* ro = rewritable(r);
    Val lv = lo != nullptr ? Val{} : eval(l, scope);
    Val rv = ro != nullptr ? Val{} : eval(r, scope);
    if (!ok()) return Val{};
    if (lv.plain() && rv.plain()) {
      if (lo != nullptr && lo->kind == ExprKind::kParam) paramPlain(lo);
      if (ro != nullptr && ro->kind == ExprKind::kParam) paramPlain(ro);
      return Val{};
    }
    if (!lv.plain() && !rv.plain()) {
      const Val& first = rv.randomized() ? rv : lv;
      refuse(first, equality ? qd::kUnsupportedOnProtected : qd::kRangeOnProtected, operation, e,
             true, "comparing two protected or computed values is not supported");
      return Val{};
    }
    const Val& p = lv.plain() ? rv : lv;
    const Expr* other = lv.plain() ? lo : ro;
    if (!equality) {
      refuse(p, qd::kRangeOnProtected, operation, e, true,
             "encryption does not preserve order; only equality works on deterministic fields");
      return Val{};
    }
    if (!p.isProtected()) {
      refuse(p, qd::kUnsupportedOnProtected, operation, e, true,
             "only a single protected field can be compared");
      return Val{};
    }
    if (p.randomized()) {
      refuse(p, qd::kPredicateOnRandomized, operation, e, true);
      return Val{};
    }
    if (other == nullptr) {
      refuse(p, qd::kUnsupportedOnProtected, operation, e, true,
             "the other side must be a literal or a @parameter so that it can be encrypted");
      return Val{};
    }
    rewrite(other, p.rule, /*array=*/false, e, EqualitySite::Kind::kPredicate,
            /*negated=*/e->op == Op::kNe);
    return Val{};
  }

  Val inList(const Expr* e, const Scope& scope) {
    const Expr* x = e->args[0];
    const Expr* xo = rewritable(x);
    Val xv = xo != nullptr ? Val{} : eval(x, scope);
    if (!ok()) return Val{};
    const char* operation = e->negated ? "NOT IN" : "IN";
    if (xv.isProtected()) {
      if (xv.randomized()) {
        refuse(xv, qd::kPredicateOnRandomized, operation, e, true);
        return Val{};
      }
      for (size_t i = 1; i < e->args.size(); ++i) {
        const Expr* item = rewritable(e->args[i]);
        if (item == nullptr) {
          refuse(xv, qd::kUnsupportedOnProtected, operation, e, true,
                 "every item of the list must be a literal or a @parameter so that it can be "
                 "encrypted");
          return Val{};
        }
        rewrite(item, xv.rule, false, item, EqualitySite::Kind::kListItem);
        if (!ok()) return Val{};
      }
      return Val{};
    }
    if (!xv.plain()) {
      refuse(xv, qd::kUnsupportedOnProtected, operation, e, true,
             "only a single protected field can be compared");
      return Val{};
    }
    if (xo != nullptr && xo->kind == ExprKind::kParam) paramPlain(xo);
    for (size_t i = 1; i < e->args.size(); ++i) {
      Val v = eval(e->args[i], scope);
      if (!ok()) return Val{};
      if (!v.plain()) {
        refuse(v, qd::kUnsupportedOnProtected, std::string(operation) + " list item", e->args[i],
               true, "write the protected field on the left: field IN (literal, ...)");
        return Val{};
      }
    }
    return Val{};
  }

  static bool isFalseLiteral(const Expr* e) noexcept {
    return e->kind == ExprKind::kLiteral && e->lit == LiteralKind::kFalse;
  }

  Val arrayContains(const Expr* e, const Scope& scope) {
    const Expr* arr = e->args[0];
    const Expr* x = e->args[1];
    const Expr* partial = e->args.size() > 2 ? e->args[2] : nullptr;
    const Expr* xo = rewritable(x);
    Val xv = xo != nullptr ? Val{} : eval(x, scope);
    if (!ok()) return Val{};
    auto partialOk = [&]() {
      if (partial == nullptr || isFalseLiteral(partial)) return true;
      fail(qd::kUnsupportedOnProtected,
           "ARRAY_CONTAINS with a protected field supports the third argument only as the "
           "literal false" +
               where(partial));
      return false;
    };
    if (xv.isProtected()) {
      if (xv.randomized()) {
        refuse(xv, qd::kPredicateOnRandomized, "ARRAY_CONTAINS", e, true);
        return Val{};
      }
      if (!partialOk()) return Val{};
      if (arr->kind == ExprKind::kParam) {
        rewrite(arr, xv.rule, /*array=*/true, arr, EqualitySite::Kind::kArrayParam);
        return Val{};
      }
      if (arr->kind == ExprKind::kArray &&
          std::all_of(arr->args.begin(), arr->args.end(),
                      [](const Expr* a) { return rewritable(a) != nullptr; })) {
        for (const Expr* a : arr->args) {
          rewrite(a, xv.rule, false, a, EqualitySite::Kind::kListItem);
          if (!ok()) return Val{};
        }
        return Val{};
      }
      refuse(xv, qd::kUnsupportedOnProtected, "ARRAY_CONTAINS", e, true,
             "the array must be a literal array of literals/@parameters, or an array "
             "@parameter, so that its elements can be encrypted");
      return Val{};
    }
    if (!xv.plain()) {
      refuse(xv, qd::kUnsupportedOnProtected, "ARRAY_CONTAINS", e, true,
             "only a single protected field can be searched for");
      return Val{};
    }
    Val av = eval(arr, scope);
    if (partial != nullptr) {
      Val pv = eval(partial, scope);
      if (ok() && !pv.plain()) {
        refuse(pv, qd::kFunctionOnProtected, "ARRAY_CONTAINS", e, true);
      }
    }
    if (!ok()) return Val{};
    if (av.plain()) {
      if (xo != nullptr && xo->kind == ExprKind::kParam) paramPlain(xo);
      return Val{};
    }
    if (av.isProtected()) {
      refuse(av, qd::kFunctionOnProtected, "ARRAY_CONTAINS", e, true,
             "the whole array is one ciphertext on the server");
      return Val{};
    }
    if (av.has_path && av.k == Val::K::kContainer) {
      Val elem = iterate(av, e);
      if (!ok()) return Val{};
      if (elem.isProtected()) {
        if (elem.randomized()) {
          refuse(elem, qd::kPredicateOnRandomized, "ARRAY_CONTAINS", e, true);
          return Val{};
        }
        if (xo == nullptr) {
          refuse(elem, qd::kUnsupportedOnProtected, "ARRAY_CONTAINS", e, true,
                 "the value searched for must be a literal or a @parameter so that it can be "
                 "encrypted");
          return Val{};
        }
        if (!partialOk()) return Val{};
        rewrite(xo, elem.rule, false, e, EqualitySite::Kind::kPredicate);
        return Val{};
      }
      refuse(av, qd::kUnsupportedOnProtected, "ARRAY_CONTAINS", e, true,
             "its elements are (or contain) protected values of different kinds");
      return Val{};
    }
    refuse(av, qd::kUnsupportedOnProtected, "ARRAY_CONTAINS", e, true);
    return Val{};
  }

  Val call(const Expr* e, const Scope& scope) {
    const std::string fname = e->udf ? "udf." + e->text : upperAscii(e->text);
    if (!e->udf && fname == "ARRAY_CONTAINS" && (e->args.size() == 2 || e->args.size() == 3)) {
      return arrayContains(e, scope);
    }
    std::vector<Val> args;
    args.reserve(e->args.size());
    for (const Expr* a : e->args) {
      args.push_back(eval(a, scope));
      if (!ok()) return Val{};
    }
    for (size_t i = 0; i < args.size(); ++i) {
      const Val& v = args[i];
      if (v.plain()) continue;
      if (e->udf) {
        refuse(v, qd::kFunctionOnProtected, "function " + fname, e, true,
               "a user-defined function would see ciphertext");
        return Val{};
      }
      if (fname == "IS_DEFINED") continue;  // definedness is preserved by encryption
      if ((isTypeCheck(fname) || fname == "ARRAY_LENGTH") && v.k == Val::K::kContainer) {
        continue;  // the container itself keeps its type and length
      }
      if (isAggregate(fname)) {
        if (fname == "COUNT" && v.k == Val::K::kContainer) continue;  // COUNT(c): definedness
        refuse(v, qd::kAggregateOnProtected, "aggregate " + fname, e, false,
               "the server would aggregate ciphertext");
        return Val{};
      }
      refuse(v, qd::kFunctionOnProtected, "function " + fname, e, true,
             "built-in functions see ciphertext on the server (only IS_DEFINED is supported on "
             "protected fields)");
      return Val{};
    }
    return Val{};
  }

  // ---- queries ----

  void bind(Scope* scope, const std::string& name, const Val& v, const Expr* bare_ident,
            uint32_t at) {
    if (name.empty()) return;
    for (const auto& [n, existing] : scope->bindings) {
      if (n == name) {
        fail(qd::kSyntax, "alias '" + name + "' is defined twice in one FROM clause (at " +
                              describePosition(text_, at) + ")");
        return;
      }
    }
    for (const Scope* s = scope->parent; s != nullptr; s = s->parent) {
      for (const auto& [n, existing] : s->bindings) {
        // `FROM c` inside a subquery over the outer alias c rebinds c to itself: allowed.
        if (n == name && !(bare_ident != nullptr && bare_ident->text == name)) {
          fail(qd::kSyntax, "alias '" + name + "' hides an alias of an enclosing query (at " +
                                describePosition(text_, at) + "); choose another name");
          return;
        }
      }
    }
    scope->bindings.emplace_back(name, v);
  }

  // Evaluates a FROM collection path (identifier followed by literal steps).
  Val collectionPath(const Expr* e, const Scope& scope, bool container_level) {
    if (e->kind == ExprKind::kIdent) {
      const Val* b = scope.find(e->text);
      if (b != nullptr) return *b;
      if (container_level) {
        Val root = classify({}, e);
        root.container_root = true;
        return root;
      }
      fail(qd::kUnknownIdentifier,
           "identifier '" + e->text + "' in FROM/JOIN is not an alias in scope" + where(e));
      return Val{};
    }
    Val base = collectionPath(e->args[0], scope, container_level);
    if (!ok()) return Val{};
    Seg seg;
    if (e->kind == ExprKind::kMember) {
      seg.name = e->text;
    } else if (e->args[1]->lit == LiteralKind::kString || isIndexSpelling(e->args[1]->text)) {
      seg.name = e->args[1]->text;
    } else {
      seg.any = true;
    }
    Val v = member(base, std::move(seg), e);
    v.container_root = false;
    return v;
  }

  void bindSource(const FromSource& src, Scope* scope, bool first, bool* root_source) {
    Val v;
    const Expr* bare = nullptr;
    if (src.subquery != nullptr) {
      // The first FROM source of a container-level query reads the container: its subquery is
      // container-level too and sees no aliases. A JOIN subquery reads the current aliases.
      const bool inner_container = first && scope->container_level;
      v = analyzeQuery(*src.subquery, inner_container ? nullptr : scope, inner_container);
      v.container_root = false;
    } else {
      const bool container_level = first && scope->container_level;
      v = collectionPath(src.path, *scope, container_level);
      if (src.path->kind == ExprKind::kIdent) bare = src.path;
    }
    if (!ok()) return;
    const Expr* at = src.path;
    if (src.kind == FromSource::Kind::kIn) {
      Val elem = iterate(v, at);
      if (!ok()) return;
      bind(scope, src.alias, elem, nullptr, src.begin);
      return;
    }
    if (first && bare != nullptr && v.container_root) *root_source = true;
    if (!src.alias.empty()) {
      bind(scope, src.alias, v, nullptr, src.begin);
      // `FROM Families f`: bind the container name as well, so that a reference to it is
      // resolved the same way the service would, or fails there.
      if (bare != nullptr && bare->text != src.alias && scope->find(bare->text) == nullptr) {
        bind(scope, bare->text, v, nullptr, src.begin);
      }
    } else if (bare != nullptr) {
      bind(scope, bare->text, v, bare, src.begin);
    } else if (src.path != nullptr && src.path->kind == ExprKind::kMember) {
      bind(scope, src.path->text, v, nullptr, src.begin);
    }
  }

  // Analyzes a query; returns the value of one result row (SELECT VALUE x -> x).
  Val analyzeQuery(const Query& q, const Scope* outer, bool container_level) {
    if (!ok()) return Val{};
    Scope scope;
    scope.parent = outer;
    scope.container_level = container_level;
    bool root_source = false;
    for (size_t i = 0; i < q.from.size() && ok(); ++i) {
      bindSource(q.from[i], &scope, i == 0, &root_source);
    }
    if (!ok()) return Val{};
    if (q.where != nullptr) {
      Val w = eval(q.where, scope);
      if (!ok()) return Val{};
      requireCondition(w, "WHERE", q.where);
      if (!ok()) return Val{};
    }
    if (q.top != nullptr && q.top->kind == ExprKind::kParam) paramPlain(q.top);
    Val row;
    switch (q.select) {
      case Query::Select::kNone:
        break;
      case Query::Select::kStar:
        if (scope.bindings.size() == 1 || (q.from.size() == 1 && !scope.bindings.empty())) {
          row = scope.bindings.front().second;
        } else {
          for (const auto& [name, v] : scope.bindings) {
            if (!v.plain()) row.k = Val::K::kContainer;
          }
        }
        if (q.distinct && !row.plain()) {
          refuse(row, qd::kDistinctOnProtected, "SELECT DISTINCT *",
                 q.from.empty() ? nullptr : q.from[0].path, false, "rows contain ciphertext");
        }
        break;
      case Query::Select::kValue:
        row = eval(q.value, scope);
        if (ok() && q.distinct && !row.plain()) {
          refuse(row, qd::kDistinctOnProtected, "SELECT DISTINCT VALUE", q.value, false,
                 "equal plaintexts are not always equal ciphertexts");
        }
        break;
      case Query::Select::kList:
        for (const SelectItem& item : q.items) {
          Val v = eval(item.expr, scope);
          if (!ok()) return Val{};
          if (q.distinct && !v.plain()) {
            refuse(v, qd::kDistinctOnProtected, "SELECT DISTINCT", item.expr, false,
                   "equal plaintexts are not always equal ciphertexts");
            return Val{};
          }
          if (!v.plain()) row.k = Val::K::kContainer;
        }
        break;
    }
    if (!ok()) return Val{};
    for (const Expr* g : q.group_by) {
      Val v = eval(g, scope);
      if (!ok()) return Val{};
      if (!v.plain()) {
        refuse(v, qd::kGroupByProtected, "GROUP BY", g, false,
               "the server would group ciphertexts");
        return Val{};
      }
    }
    for (const OrderItem& o : q.order_by) {
      Val v = eval(o.expr, scope);
      if (!ok()) return Val{};
      if (!v.plain()) {
        refuse(v, qd::kOrderByProtected, "ORDER BY", o.expr, false,
               "the server would sort ciphertexts, not values");
        return Val{};
      }
    }
    if (q.offset != nullptr && q.offset->kind == ExprKind::kParam) paramPlain(q.offset);
    if (q.limit != nullptr && q.limit->kind == ExprKind::kParam) paramPlain(q.limit);
    if (&q == top_query_) {
      select_star_ = root_source && q.from.size() == 1 &&
                     q.from[0].kind == FromSource::Kind::kAliased &&
                     (q.select == Query::Select::kStar ||
                      (q.select == Query::Select::kValue && q.value->kind == ExprKind::kIdent &&
                       row.container_root));
    }
    return row;
  }

  const ContainerPolicy& policy_;
  std::string_view text_;
  const bool no_parameters_;
  const Query* top_query_ = nullptr;
  Status error_;
  std::vector<LiteralRewrite> literals_;
  std::vector<EqualitySite> sites_;
  std::map<std::string, ParamUse> params_;
  bool select_star_ = false;
  // Paths read that are, hold or may be protected fields (how many times each), less those
  // only read as a step towards a longer path (c.profile in c.profile.city).
  std::map<std::string, int> read_paths_;
};

}  // namespace

Status analyzeQuery(const Query& root, std::string_view text, const ContainerPolicy& policy,
                    bool no_parameters, QueryAnalysis* out) {
  Analyzer analyzer(policy, text, no_parameters);
  COSMOSEAL_RETURN_IF_ERROR(analyzer.run(root));
  out->literals = std::move(analyzer.literalRewrites());
  out->sites = std::move(analyzer.equalitySites());
  out->params = analyzer.params();
  out->select_star = analyzer.selectStar();
  out->protected_path = analyzer.protectedPath();
  return Status::ok();
}

}  // namespace cosmoseal::policy
