// Fuzzes the query lexer/parser and the query rewriter with a fixed policy:
//   /ssn deterministic, /rnd randomized, /addr randomized (a subtree), /tags/* deterministic,
//   /cards/*/number randomized, /meta/code deterministic.
// The input is used three ways: as the query text of a body with fixed parameters, as a whole
// request body (when it starts with '{'), and as a patch condition. Invariants:
//   * never a crash, a hang or unbounded recursion (sanitizers, libFuzzer timeouts);
//   * every refusal is a 400 with a "query." detail code;
//   * an accepted query never uses a randomized field in a predicate, and never compares a
//     deterministic field with a plaintext literal. Both are checked by an independent,
//     syntactic walk over the OUTPUT query (re-parsed), not by the rewriter's own analysis;
//   * the rewrite is idempotent: rewriting the output again changes nothing.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/assert.h"
#include "crypto/field_cipher.h"
#include "crypto/keyring.h"
#include "policy/json/text.h"
#include "policy/policy.h"
#include "policy/query/parser.h"
#include "policy/query/rewriter.h"

namespace {

using cosmoseal::common::Code;
using cosmoseal::common::SecretBytes;
using cosmoseal::common::Status;
using cosmoseal::crypto::FieldCipher;
using cosmoseal::crypto::KeyringBuilder;
using namespace cosmoseal::policy;  // NOLINT(google-build-using-namespace)

struct Fixture {
  std::shared_ptr<const PolicySet> set;
  const ContainerPolicy* policy = nullptr;
  std::unique_ptr<FieldCipher> cipher;

  Fixture() {
    KeyringBuilder b;
    SecretBytes m(cosmoseal::crypto::kDekSize);
    for (size_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<uint8_t>(i * 7);
    COSMOSEAL_RELEASE_ASSERT(b.add("pii", 1, 0x11223344, std::move(m)).isOk());
    COSMOSEAL_RELEASE_ASSERT(b.setPrimary("pii", 1).isOk());
    auto keyring = b.build();
    COSMOSEAL_RELEASE_ASSERT(keyring.isOk());
    cipher = std::make_unique<FieldCipher>(*keyring);

    ContainerPolicySpec s;
    s.database = "db";
    s.container = "coll";
    auto add = [&](const char* path, FieldMode mode) {
      FieldSpec f;
      f.path = path;
      f.mode = mode;
      f.key = "pii";
      s.fields.push_back(f);
    };
    add("/ssn", FieldMode::kDeterministic);
    add("/rnd", FieldMode::kRandomized);
    add("/addr", FieldMode::kRandomized);
    add("/tags/*", FieldMode::kDeterministic);
    add("/cards/*/number", FieldMode::kRandomized);
    add("/meta/code", FieldMode::kDeterministic);
    std::vector<ContainerPolicySpec> specs{s};
    auto created = PolicySet::create(specs);
    COSMOSEAL_RELEASE_ASSERT(created.isOk());
    set = *created;
    policy = set->find("db", "coll");
  }
};

// ---- the independent oracle ----

struct Oracle {
  // Aliases bound to the whole document, and aliases bound to a randomized field's value.
  std::vector<std::string> root_aliases;
  std::vector<std::string> rnd_aliases;
  std::vector<std::string> det_aliases;

  static bool has(const std::vector<std::string>& v, std::string_view s) {
    for (const auto& x : v) {
      if (x == s) return true;
    }
    return false;
  }

  // The top-level member name of `e` if it is root_alias.name / root_alias["name"].
  std::string_view topMember(const Expr* e) const {
    if (e->kind == ExprKind::kMember && e->args[0]->kind == ExprKind::kIdent &&
        has(root_aliases, e->args[0]->text)) {
      return e->text;
    }
    if (e->kind == ExprKind::kIndex && e->args[0]->kind == ExprKind::kIdent &&
        has(root_aliases, e->args[0]->text) && e->args[1]->kind == ExprKind::kLiteral &&
        e->args[1]->lit == LiteralKind::kString) {
      return e->args[1]->text;
    }
    return {};
  }

  bool isRandomized(const Expr* e) const {
    const std::string_view m = topMember(e);
    if (m == "rnd" || m == "addr") return true;
    return e->kind == ExprKind::kIdent && has(rnd_aliases, e->text);
  }
  bool isDeterministic(const Expr* e) const {
    if (topMember(e) == "ssn") return true;
    return e->kind == ExprKind::kIdent && has(det_aliases, e->text);
  }
  static bool isPlainLiteral(const Expr* e) {
    if (e->kind != ExprKind::kLiteral || e->lit == LiteralKind::kUndefined) return false;
    return !(e->lit == LiteralKind::kString && FieldCipher::hasEnvelopePrefix(e->text));
  }

  void violation(const char* what) {
    (void)what;
    COSMOSEAL_RELEASE_ASSERT(false && "accepted query violates the query policy");
  }

  void predicateOperand(const Expr* e) {
    if (isRandomized(e)) violation("randomized field in a predicate");
  }

  void expr(const Expr* e) {
    switch (e->kind) {
      case ExprKind::kBinary:
        if (e->op == Op::kEq || e->op == Op::kNe || e->op == Op::kLt || e->op == Op::kLe ||
            e->op == Op::kGt || e->op == Op::kGe) {
          predicateOperand(e->args[0]);
          predicateOperand(e->args[1]);
          if ((isDeterministic(e->args[0]) && isPlainLiteral(e->args[1])) ||
              (isDeterministic(e->args[1]) && isPlainLiteral(e->args[0]))) {
            violation("plaintext literal compared with a deterministic field");
          }
        }
        break;
      case ExprKind::kIn:
        predicateOperand(e->args[0]);
        for (size_t i = 1; i < e->args.size(); ++i) {
          predicateOperand(e->args[i]);
          if (isDeterministic(e->args[0]) && isPlainLiteral(e->args[i])) {
            violation("plaintext literal in an IN list of a deterministic field");
          }
        }
        break;
      case ExprKind::kLike:
      case ExprKind::kBetween:
      case ExprKind::kAnd:
      case ExprKind::kOr:
        for (const Expr* a : e->args) predicateOperand(a);
        break;
      case ExprKind::kUnary:
        if (e->op == Op::kNot) predicateOperand(e->args[0]);
        break;
      case ExprKind::kTernary:
        predicateOperand(e->args[0]);
        break;
      case ExprKind::kCall: {
        std::string name = e->text;
        for (char& c : name) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        if (name != "IS_DEFINED") {
          for (const Expr* a : e->args) predicateOperand(a);
        }
        break;
      }
      default:
        break;
    }
    for (const Expr* a : e->args) expr(a);
    if (e->query != nullptr) query(*e->query, /*container_level=*/false);
  }

  void query(const Query& q, bool container_level) {
    for (size_t i = 0; i < q.from.size(); ++i) {
      const FromSource& s = q.from[i];
      if (s.subquery != nullptr) {
        query(*s.subquery, container_level && i == 0);
        continue;
      }
      const Expr* p = s.path;
      if (p->kind == ExprKind::kIdent) {
        if ((container_level && i == 0) || has(root_aliases, p->text)) {
          root_aliases.push_back(s.alias.empty() ? p->text : s.alias);
          root_aliases.push_back(p->text);
        }
      } else if (s.kind == FromSource::Kind::kAliased && !s.alias.empty()) {
        if (container_level && i == 0 && p->args[0]->kind == ExprKind::kIdent) {
          root_aliases.push_back(p->args[0]->text);  // for topMember() on the path itself
        }
        if (isRandomized(p)) rnd_aliases.push_back(s.alias);
        if (isDeterministic(p)) det_aliases.push_back(s.alias);
        if (container_level && i == 0 && p->args[0]->kind == ExprKind::kIdent) {
          root_aliases.pop_back();
        }
      }
    }
    if (q.where != nullptr) {
      predicateOperand(q.where);
      expr(q.where);
    }
    if (q.value != nullptr) expr(q.value);
    for (const SelectItem& i : q.items) expr(i.expr);
    for (const Expr* g : q.group_by) expr(g);
    for (const OrderItem& o : q.order_by) expr(o.expr);
  }
};

// Envelopes are longer than the literals they replace: an output may pass a size limit that
// the input did not. That is the only acceptable reason for the output to be refused.
bool grewTooLarge(const Status& st) { return st.detail() == "query.too_complex"; }

void checkAccepted(std::string_view text, bool condition) {
  ParsedQuery pq;
  Status st = condition ? parseCondition(text, &pq) : parseQuery(text, &pq);
  if (grewTooLarge(st)) return;
  COSMOSEAL_RELEASE_ASSERT(st.isOk());  // the output must still parse
  Oracle oracle;
  oracle.query(*pq.root, /*container_level=*/true);
}

void checkRefusal(const Status& st) {
  COSMOSEAL_RELEASE_ASSERT(st.code() == Code::kInvalidArgument);
  COSMOSEAL_RELEASE_ASSERT(st.detail().substr(0, 6) == "query.");
}

// Extracts the "query" member of a body built by the rewriter around a query we wrapped
// ourselves (so "query" is its only key of that name: {"query":"...","parameters":[...]}).
bool queryOf(const std::string& body, std::string* out) {
  const std::string_view prefix = "{\"query\":\"";
  if (body.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t start = prefix.size() - 1;
  size_t i = start + 1;
  while (i < body.size() && body[i] != '"') i += body[i] == '\\' ? 2 : 1;
  if (i >= body.size()) return false;
  return unescapeJsonString(std::string_view(body).substr(start, i + 1 - start), out).isOk();
}

// `known_query`: the query text inside `body` when we built the body ourselves.
void runBody(Fixture& fx, const std::string& body, const std::string_view* known_query) {
  auto r = rewriteQueryRequest(body, *fx.policy, *fx.cipher);
  if (!r.isOk()) {
    checkRefusal(r.status());
    return;
  }
  // Idempotence: a second pass changes nothing.
  auto again = rewriteQueryRequest(r->body, *fx.policy, *fx.cipher);
  if (!again.isOk() && grewTooLarge(again.status())) return;
  COSMOSEAL_RELEASE_ASSERT(again.isOk());
  COSMOSEAL_RELEASE_ASSERT(!again->changed);
  COSMOSEAL_RELEASE_ASSERT(again->body == r->body);
  if (known_query == nullptr) return;
  if (!r->changed) {
    checkAccepted(*known_query, /*condition=*/false);
    return;
  }
  std::string q;
  COSMOSEAL_RELEASE_ASSERT(queryOf(r->body, &q));
  checkAccepted(q, /*condition=*/false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fx = new Fixture();
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // Parser alone (any bytes).
  {
    ParsedQuery pq;
    (void)parseQuery(in, &pq);
    ParsedQuery pc;
    (void)parseCondition(in, &pc);
  }

  if (isValidUtf8(in)) {
    // As the query text of a body with parameters of every kind.
    std::string body = "{\"query\":";
    appendCanonicalJsonString(in, &body);
    body +=
        ",\"parameters\":[{\"name\":\"@s\",\"value\":\"x\"},{\"name\":\"@n\",\"value\":5},"
        "{\"name\":\"@b\",\"value\":true},{\"name\":\"@a\",\"value\":[\"a\",1,null]},"
        "{\"name\":\"@o\",\"value\":{\"k\":1}}]}";
    runBody(*fx, body, &in);

    // As a patch condition.
    auto c = rewritePatchCondition(in, *fx->policy, *fx->cipher);
    if (!c.isOk()) {
      checkRefusal(c.status());
    } else {
      checkAccepted(*c, /*condition=*/true);
    }
  }

  // As a whole body.
  if (!in.empty() && in[0] == '{') runBody(*fx, std::string(in), nullptr);
  return 0;
}
