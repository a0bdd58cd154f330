#include "policy/query/parser.h"

#include <algorithm>

#include "policy/query/details.h"

namespace cosmoseal::policy {

namespace qd = query_detail;

using common::Code;
using common::Status;

std::string_view opName(Op op) noexcept {
  switch (op) {
    case Op::kNone:
      return "";
    case Op::kNeg:
      return "-";
    case Op::kPos:
      return "+";
    case Op::kBitNot:
      return "~";
    case Op::kNot:
      return "NOT";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kShl:
      return "<<";
    case Op::kShr:
      return ">>";
    case Op::kShrZero:
      return ">>>";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "!=";
    case Op::kBitAnd:
      return "&";
    case Op::kBitXor:
      return "^";
    case Op::kBitOr:
      return "|";
    case Op::kConcat:
      return "||";
  }
  return "";
}

namespace {

// Binary precedence levels, loosest first (the service grammar's order, with the shifts the
// documentation adds placed as in C).
enum Level : int {
  kLevelConcat = 0,
  kLevelBitOr,
  kLevelBitXor,
  kLevelBitAnd,
  kLevelEquality,
  kLevelRelational,
  kLevelShift,
  kLevelAdditive,
  kLevelMultiplicative,
  kLevelCount,
};

int levelOf(Tok t, Op* op) noexcept {
  switch (t) {
    case Tok::kConcat:
      *op = Op::kConcat;
      return kLevelConcat;
    case Tok::kPipe:
      *op = Op::kBitOr;
      return kLevelBitOr;
    case Tok::kCaret:
      *op = Op::kBitXor;
      return kLevelBitXor;
    case Tok::kAmp:
      *op = Op::kBitAnd;
      return kLevelBitAnd;
    case Tok::kEq:
      *op = Op::kEq;
      return kLevelEquality;
    case Tok::kNe:
      *op = Op::kNe;
      return kLevelEquality;
    case Tok::kLt:
      *op = Op::kLt;
      return kLevelRelational;
    case Tok::kLe:
      *op = Op::kLe;
      return kLevelRelational;
    case Tok::kGt:
      *op = Op::kGt;
      return kLevelRelational;
    case Tok::kGe:
      *op = Op::kGe;
      return kLevelRelational;
    case Tok::kShl:
      *op = Op::kShl;
      return kLevelShift;
    case Tok::kShr:
      *op = Op::kShr;
      return kLevelShift;
    case Tok::kShrZero:
      *op = Op::kShrZero;
      return kLevelShift;
    case Tok::kPlus:
      *op = Op::kAdd;
      return kLevelAdditive;
    case Tok::kMinus:
      *op = Op::kSub;
      return kLevelAdditive;
    case Tok::kStar:
      *op = Op::kMul;
      return kLevelMultiplicative;
    case Tok::kSlash:
      *op = Op::kDiv;
      return kLevelMultiplicative;
    case Tok::kPercent:
      *op = Op::kMod;
      return kLevelMultiplicative;
    default:
      return -1;
  }
}

// Identifiers usable as aliases / collection names: non-keywords, plus ALL FIRST LAST (the
// service grammar allows those as identifiers).
bool isAliasToken(const Token& t) noexcept {
  return t.kind == Tok::kIdent &&
         (t.kw == Kw::kNone || t.kw == Kw::kAll || t.kw == Kw::kFirst || t.kw == Kw::kLast);
}

class Parser {
 public:
  Parser(std::string_view text, ParsedQuery* out) : text_(text), out_(out) {}

  Status run(bool condition) {
    Status st = lexQuery(text_, &out_->lex);
    if (!st.isOk()) return st;
    toks_ = &out_->lex.tokens;
    Query* q = nullptr;
    if (condition && !isKw(Kw::kSelect)) {
      q = conditionQuery();
    } else {
      q = query();
    }
    if (!ok()) return error_;
    if (cur().kind != Tok::kEnd) {
      fail(cur().kind == Tok::kRParen ? "unbalanced ')'" : "expected end of query");
      return error_;
    }
    out_->root = q;
    return Status::ok();
  }

 private:
  // ---- token access ----
  const Token& cur() const noexcept { return (*toks_)[pos_]; }
  const Token& peekTok(size_t k = 1) const noexcept {
    const size_t i = std::min(pos_ + k, toks_->size() - 1);
    return (*toks_)[i];
  }
  bool is(Tok t) const noexcept { return cur().kind == t; }
  bool isKw(Kw k) const noexcept { return cur().kind == Tok::kIdent && cur().kw == k; }
  void advance() noexcept {
    if (pos_ + 1 < toks_->size()) ++pos_;
  }
  bool accept(Tok t) noexcept {
    if (!is(t)) return false;
    advance();
    return true;
  }
  bool acceptKw(Kw k) noexcept {
    if (!isKw(k)) return false;
    advance();
    return true;
  }
  bool ok() const noexcept { return error_.isOk(); }

  void fail(std::string expected) { failAt(cur(), std::move(expected)); }
  void failAt(const Token& t, std::string expected) {
    if (ok()) {
      error_ = Status(Code::kInvalidArgument, qd::kSyntax,
                      "syntax error at " + describePosition(text_, t.begin) + ": " +
                          std::move(expected) + ", found " + describeToken(t));
    }
  }
  void tooComplex(std::string what) {
    if (ok()) error_ = Status(Code::kInvalidArgument, qd::kTooComplex, std::move(what));
  }
  bool expect(Tok t, const char* what) {
    if (accept(t)) return true;
    fail(std::string("expected ") + what);
    return false;
  }
  bool expectKw(Kw k) {
    if (acceptKw(k)) return true;
    fail("expected " + std::string(keywordName(k)));
    return false;
  }

  // Nesting guard for every recursive entry point.
  struct Nest {
    explicit Nest(Parser* p) : p_(p) {
      if (++p_->nesting_ > kMaxQueryNesting) {
        p_->tooComplex("query nesting is deeper than " + std::to_string(kMaxQueryNesting) +
                       " (parentheses, subqueries, unary operators)");
      }
    }
    ~Nest() { --p_->nesting_; }
    Parser* p_;
  };

  // ---- node construction ----
  Expr* node(ExprKind kind, uint32_t begin) {
    Expr& e = out_->exprs.emplace_back();
    e.kind = kind;
    e.begin = begin;
    e.end = begin;
    return &e;
  }
  // Sets depth from the children (and a subquery's own depth); false if too deep.
  bool finish(Expr* e, uint32_t end) {
    e->end = end;
    size_t d = 0;
    for (const Expr* a : e->args) d = std::max<size_t>(d, a->depth);
    if (e->query != nullptr) d = std::max<size_t>(d, e->query->depth);
    if (d + 1 > kMaxExprDepth) {
      tooComplex("query expression is nested deeper than " + std::to_string(kMaxExprDepth));
      e->depth = static_cast<uint16_t>(kMaxExprDepth);
      return false;
    }
    e->depth = static_cast<uint16_t>(d + 1);
    if (!depth_stack_.empty()) depth_stack_.back() = std::max(depth_stack_.back(), d + 1);
    return true;
  }
  uint32_t prevEnd() const noexcept { return pos_ == 0 ? 0 : (*toks_)[pos_ - 1].end; }

  // ---- queries ----
  Query* query() {
    Nest nest(this);
    if (!ok()) return nullptr;
    Query& q = out_->queries.emplace_back();
    q.begin = cur().begin;
    depth_stack_.push_back(0);
    selectClause(&q);
    if (ok() && acceptKw(Kw::kFrom)) fromClause(&q);
    if (ok()) tailClauses(&q);
    q.depth = static_cast<uint16_t>(depth_stack_.back());
    depth_stack_.pop_back();
    return &q;
  }

  Query* conditionQuery() {
    Query& q = out_->queries.emplace_back();
    q.begin = cur().begin;
    q.select = Query::Select::kNone;
    depth_stack_.push_back(0);
    if (expectKw(Kw::kFrom)) fromClause(&q);
    if (ok() && acceptKw(Kw::kWhere)) q.where = expr();
    q.depth = static_cast<uint16_t>(depth_stack_.back());
    depth_stack_.pop_back();
    return &q;
  }

  void selectClause(Query* q) {
    if (!expectKw(Kw::kSelect)) return;
    // DISTINCT and TOP, in either order.
    for (int i = 0; i < 2; ++i) {
      if (!q->distinct && acceptKw(Kw::kDistinct)) {
        q->distinct = true;
      } else if (q->top == nullptr && acceptKw(Kw::kTop)) {
        q->top = countOperand("TOP");
        if (!ok()) return;
      }
    }
    if (accept(Tok::kStar)) {
      q->select = Query::Select::kStar;
      return;
    }
    if (acceptKw(Kw::kValue)) {
      q->select = Query::Select::kValue;
      q->value = expr();
      return;
    }
    q->select = Query::Select::kList;
    while (ok()) {
      SelectItem item;
      item.expr = expr();
      if (!ok()) return;
      if (acceptKw(Kw::kAs)) {
        if (!isAliasToken(cur())) {
          fail("expected an alias after AS");
          return;
        }
        item.alias = cur().text;
        advance();
      } else if (isAliasToken(cur())) {
        item.alias = cur().text;
        advance();
      }
      q->items.push_back(std::move(item));
      if (!accept(Tok::kComma)) break;
    }
  }

  // TOP / OFFSET / LIMIT operand: a number literal or a parameter.
  Expr* countOperand(const char* clause) {
    const Token& t = cur();
    Expr* e = nullptr;
    if (t.kind == Tok::kNumber) {
      e = node(ExprKind::kLiteral, t.begin);
      e->lit = LiteralKind::kNumber;
      e->text = t.text;
    } else if (t.kind == Tok::kParam) {
      e = node(ExprKind::kParam, t.begin);
      e->text = t.text;
    } else {
      fail(std::string("expected a number or a parameter after ") + clause);
      return nullptr;
    }
    advance();
    finish(e, t.end);
    return e;
  }

  void fromClause(Query* q) {
    q->from.push_back(source());
    while (ok() && acceptKw(Kw::kJoin)) q->from.push_back(source());
  }

  FromSource source() {
    FromSource s;
    s.begin = cur().begin;
    if (isAliasToken(cur()) && peekTok().kind == Tok::kIdent && peekTok().kw == Kw::kIn) {
      s.kind = FromSource::Kind::kIn;
      s.alias = cur().text;
      advance();
      advance();
      collection(&s);
      return s;
    }
    s.kind = FromSource::Kind::kAliased;
    collection(&s);
    if (!ok()) return s;
    if (acceptKw(Kw::kAs)) {
      if (!isAliasToken(cur())) {
        fail("expected an alias after AS");
        return s;
      }
      s.alias = cur().text;
      advance();
    } else if (isAliasToken(cur())) {
      s.alias = cur().text;
      advance();
    }
    return s;
  }

  void collection(FromSource* s) {
    if (is(Tok::kLParen)) {
      if (!(peekTok().kind == Tok::kIdent && peekTok().kw == Kw::kSelect)) {
        fail("expected a collection name, an alias path or a (SELECT ...) subquery");
        return;
      }
      advance();
      s->subquery = query();
      if (!ok()) return;
      // A FROM subquery counts towards the depth of the query that contains it, so that the
      // depth of the top query bounds every recursion of the rewriter.
      const size_t d = static_cast<size_t>(s->subquery->depth) + 1;
      if (d > kMaxExprDepth) {
        tooComplex("query expression is nested deeper than " + std::to_string(kMaxExprDepth));
        return;
      }
      depth_stack_.back() = std::max(depth_stack_.back(), d);
      expect(Tok::kRParen, "')' after the subquery");
      return;
    }
    if (!isAliasToken(cur())) {
      fail("expected a collection name, an alias path or a (SELECT ...) subquery");
      return;
    }
    Expr* e = node(ExprKind::kIdent, cur().begin);
    e->text = cur().text;
    advance();
    finish(e, prevEnd());
    // Path steps: .name, [number], ['string'] (literal steps only, as in the service grammar).
    while (ok()) {
      if (is(Tok::kDot)) {
        advance();
        if (!is(Tok::kIdent)) {
          fail("expected a property name after '.'");
          return;
        }
        Expr* m = node(ExprKind::kMember, e->begin);
        m->text = cur().text;
        m->args.push_back(e);
        advance();
        if (!finish(m, prevEnd())) return;
        e = m;
      } else if (is(Tok::kLBracket)) {
        advance();
        if (!is(Tok::kNumber) && !is(Tok::kString)) {
          fail("expected a number or a string literal inside [ ] in a FROM path");
          return;
        }
        Expr* lit = literalFromToken(cur());
        advance();
        if (!expect(Tok::kRBracket, "']'")) return;
        Expr* ix = node(ExprKind::kIndex, e->begin);
        ix->args = {e, lit};
        if (!finish(ix, prevEnd())) return;
        e = ix;
      } else {
        break;
      }
    }
    s->path = e;
  }

  void tailClauses(Query* q) {
    if (acceptKw(Kw::kWhere)) {
      q->where = expr();
      if (!ok()) return;
    }
    if (acceptKw(Kw::kGroup)) {
      if (!expectKw(Kw::kBy)) return;
      do {
        q->group_by.push_back(expr());
      } while (ok() && accept(Tok::kComma));
      if (!ok()) return;
    }
    if (acceptKw(Kw::kOrder)) {
      if (!expectKw(Kw::kBy)) return;
      if (acceptKw(Kw::kRank)) q->order_by_rank = true;
      do {
        OrderItem item;
        const Token& start = cur();
        item.expr = expr();
        if (!ok()) return;
        if (q->order_by_rank && item.expr->kind != ExprKind::kCall) {
          failAt(start, "expected a scoring function call after ORDER BY RANK");
          return;
        }
        if (acceptKw(Kw::kDesc)) {
          item.descending = true;
        } else {
          acceptKw(Kw::kAsc);
        }
        q->order_by.push_back(item);
      } while (ok() && accept(Tok::kComma));
      if (!ok()) return;
    }
    if (acceptKw(Kw::kOffset)) {
      q->offset = countOperand("OFFSET");
      if (!ok() || !expectKw(Kw::kLimit)) return;
      q->limit = countOperand("LIMIT");
    }
  }

  // ---- expressions ----
  Expr* expr() {
    Nest nest(this);
    if (!ok()) return nullptr;
    return ternary();
  }

  Expr* ternary() {
    Expr* cond = coalesce();
    if (!ok() || !is(Tok::kQuestion)) return cond;
    advance();
    Expr* a = expr();
    if (!ok() || !expect(Tok::kColon, "':' of the ?: operator")) return nullptr;
    Expr* b = expr();
    if (!ok()) return nullptr;
    Expr* e = node(ExprKind::kTernary, cond->begin);
    e->args = {cond, a, b};
    finish(e, b->end);
    return e;
  }

  Expr* coalesce() {
    Expr* left = logicalOr();
    while (ok() && is(Tok::kCoalesce)) {
      advance();
      Expr* right = logicalOr();
      if (!ok()) return nullptr;
      Expr* e = node(ExprKind::kCoalesce, left->begin);
      e->args = {left, right};
      if (!finish(e, right->end)) return nullptr;
      left = e;
    }
    return left;
  }

  Expr* logicalOr() {
    Expr* first = logicalAnd();
    if (!ok() || !isKw(Kw::kOr)) return first;
    Expr* e = node(ExprKind::kOr, first->begin);
    e->args.push_back(first);
    while (ok() && acceptKw(Kw::kOr)) {
      Expr* next = logicalAnd();
      if (!ok()) return nullptr;
      e->args.push_back(next);
    }
    finish(e, e->args.back()->end);
    return e;
  }

  Expr* logicalAnd() {
    Expr* first = predicate();
    if (!ok() || !isKw(Kw::kAnd)) return first;
    Expr* e = node(ExprKind::kAnd, first->begin);
    e->args.push_back(first);
    while (ok() && acceptKw(Kw::kAnd)) {
      Expr* next = predicate();
      if (!ok()) return nullptr;
      e->args.push_back(next);
    }
    finish(e, e->args.back()->end);
    return e;
  }

  // binary [NOT] IN (...) | [NOT] LIKE binary [ESCAPE 's'] | [NOT] BETWEEN binary AND binary
  Expr* predicate() {
    Expr* left = binary(kLevelConcat);
    if (!ok()) return nullptr;
    bool negated = false;
    if (isKw(Kw::kNot)) {
      const Token& n = peekTok();
      if (n.kind == Tok::kIdent && (n.kw == Kw::kIn || n.kw == Kw::kLike || n.kw == Kw::kBetween)) {
        advance();
        negated = true;
      } else {
        fail("expected IN, LIKE or BETWEEN after NOT");
        return nullptr;
      }
    }
    if (acceptKw(Kw::kIn)) {
      Expr* e = node(ExprKind::kIn, left->begin);
      e->negated = negated;
      e->args.push_back(left);
      if (!expect(Tok::kLParen, "'(' after IN")) return nullptr;
      do {
        Expr* item = expr();
        if (!ok()) return nullptr;
        e->args.push_back(item);
      } while (accept(Tok::kComma));
      if (!expect(Tok::kRParen, "')' closing the IN list")) return nullptr;
      finish(e, prevEnd());
      return e;
    }
    if (acceptKw(Kw::kLike)) {
      Expr* e = node(ExprKind::kLike, left->begin);
      e->negated = negated;
      Expr* pattern = binary(kLevelConcat);
      if (!ok()) return nullptr;
      e->args = {left, pattern};
      if (acceptKw(Kw::kEscape)) {
        if (!is(Tok::kString)) {
          fail("expected a string literal after ESCAPE");
          return nullptr;
        }
        e->args.push_back(literalFromToken(cur()));
        advance();
      }
      finish(e, prevEnd());
      return e;
    }
    if (acceptKw(Kw::kBetween)) {
      Expr* e = node(ExprKind::kBetween, left->begin);
      e->negated = negated;
      Expr* lo = binary(kLevelConcat);
      if (!ok() || !expectKw(Kw::kAnd)) return nullptr;
      Expr* hi = binary(kLevelConcat);
      if (!ok()) return nullptr;
      e->args = {left, lo, hi};
      finish(e, hi->end);
      return e;
    }
    return left;
  }

  // Left-associative binary operators by precedence climbing (a loop per level: a long chain
  // of one operator deepens the tree, which finish() bounds, but not the C++ stack).
  Expr* binary(int level) {
    if (level >= kLevelCount) return unary();
    Expr* left = binary(level + 1);
    while (ok()) {
      Op op = Op::kNone;
      if (levelOf(cur().kind, &op) != level) break;
      advance();
      Expr* right = binary(level + 1);
      if (!ok()) return nullptr;
      Expr* e = node(ExprKind::kBinary, left->begin);
      e->op = op;
      e->args = {left, right};
      if (!finish(e, right->end)) return nullptr;
      left = e;
    }
    return left;
  }

  Expr* unary() {
    Op op = Op::kNone;
    if (is(Tok::kMinus)) {
      op = Op::kNeg;
    } else if (is(Tok::kPlus)) {
      op = Op::kPos;
    } else if (is(Tok::kTilde)) {
      op = Op::kBitNot;
    } else if (isKw(Kw::kNot)) {
      op = Op::kNot;
    }
    if (op == Op::kNone) return postfix();
    Nest nest(this);
    if (!ok()) return nullptr;
    const Token& start = cur();
    advance();
    Expr* operand = unary();
    if (!ok()) return nullptr;
    // -5 is the number literal -5 (the service lexer reads a signed number as one token).
    if (op == Op::kNeg && operand->kind == ExprKind::kLiteral &&
        operand->lit == LiteralKind::kNumber && !operand->parenthesized && !operand->text.empty() &&
        operand->text[0] != '-') {
      operand->text.insert(0, 1, '-');
      operand->begin = start.begin;
      return operand;
    }
    Expr* e = node(ExprKind::kUnary, start.begin);
    e->op = op;
    e->args = {operand};
    finish(e, operand->end);
    return e;
  }

  Expr* postfix() {
    Expr* e = primary();
    while (ok()) {
      if (is(Tok::kDot)) {
        advance();
        if (!is(Tok::kIdent)) {
          fail("expected a property name after '.'");
          return nullptr;
        }
        Expr* m = node(ExprKind::kMember, e->begin);
        m->text = cur().text;
        m->args = {e};
        advance();
        if (!finish(m, prevEnd())) return nullptr;
        e = m;
      } else if (is(Tok::kLBracket)) {
        advance();
        Expr* index = expr();
        if (!ok() || !expect(Tok::kRBracket, "']'")) return nullptr;
        Expr* ix = node(ExprKind::kIndex, e->begin);
        ix->args = {e, index};
        if (!finish(ix, prevEnd())) return nullptr;
        e = ix;
      } else {
        break;
      }
    }
    return e;
  }

  Expr* literalFromToken(const Token& t) {
    Expr* e = node(ExprKind::kLiteral, t.begin);
    e->lit = t.kind == Tok::kString ? LiteralKind::kString : LiteralKind::kNumber;
    e->text = t.text;
    finish(e, t.end);
    return e;
  }

  Expr* subqueryExpr(ExprKind kind, uint32_t begin) {
    // cur() is '(' followed by SELECT.
    advance();
    Query* sub = query();
    if (!ok() || !expect(Tok::kRParen, "')' after the subquery")) return nullptr;
    Expr* e = node(kind, begin);
    e->query = sub;
    finish(e, prevEnd());
    return e;
  }

  bool atSubquery() const noexcept {
    return is(Tok::kLParen) && peekTok().kind == Tok::kIdent && peekTok().kw == Kw::kSelect;
  }

  Expr* call(const Token& name, bool udf, uint32_t begin) {
    // cur() is '('.
    advance();
    Expr* e = node(ExprKind::kCall, begin);
    e->text = name.text;
    e->udf = udf;
    if (!is(Tok::kRParen)) {
      do {
        Expr* a = expr();
        if (!ok()) return nullptr;
        e->args.push_back(a);
      } while (accept(Tok::kComma));
    }
    if (!expect(Tok::kRParen, "')' closing the argument list")) return nullptr;
    finish(e, prevEnd());
    return e;
  }

  Expr* primary() {
    const Token& t = cur();
    switch (t.kind) {
      case Tok::kNumber:
      case Tok::kString: {
        Expr* e = literalFromToken(t);
        advance();
        return e;
      }
      case Tok::kParam: {
        Expr* e = node(ExprKind::kParam, t.begin);
        e->text = t.text;
        advance();
        finish(e, t.end);
        return e;
      }
      case Tok::kLParen: {
        if (atSubquery()) return subqueryExpr(ExprKind::kSubquery, t.begin);
        advance();
        Expr* inner = expr();
        if (!ok() || !expect(Tok::kRParen, "')'")) return nullptr;
        inner->parenthesized = true;
        return inner;
      }
      case Tok::kLBracket: {
        advance();
        Expr* e = node(ExprKind::kArray, t.begin);
        if (!is(Tok::kRBracket)) {
          do {
            Expr* a = expr();
            if (!ok()) return nullptr;
            e->args.push_back(a);
          } while (accept(Tok::kComma));
        }
        if (!expect(Tok::kRBracket, "']' closing the array")) return nullptr;
        finish(e, prevEnd());
        return e;
      }
      case Tok::kLBrace: {
        advance();
        Expr* e = node(ExprKind::kObject, t.begin);
        if (!is(Tok::kRBrace)) {
          do {
            if (!is(Tok::kString) && !is(Tok::kIdent)) {
              fail("expected a property name in the object");
              return nullptr;
            }
            e->keys.push_back(cur().text);
            advance();
            if (!expect(Tok::kColon, "':' after the property name")) return nullptr;
            Expr* v = expr();
            if (!ok()) return nullptr;
            e->args.push_back(v);
          } while (accept(Tok::kComma));
        }
        if (!expect(Tok::kRBrace, "'}' closing the object")) return nullptr;
        finish(e, prevEnd());
        return e;
      }
      case Tok::kIdent:
        return identPrimary(t);
      default:
        fail("expected an expression");
        return nullptr;
    }
  }

  Expr* identPrimary(const Token& t) {
    switch (t.kw) {
      case Kw::kTrue:
      case Kw::kFalse:
      case Kw::kNull:
      case Kw::kUndefined: {
        Expr* e = node(ExprKind::kLiteral, t.begin);
        e->lit = t.kw == Kw::kTrue    ? LiteralKind::kTrue
                 : t.kw == Kw::kFalse ? LiteralKind::kFalse
                 : t.kw == Kw::kNull  ? LiteralKind::kNull
                                      : LiteralKind::kUndefined;
        e->text = t.text;
        advance();
        finish(e, t.end);
        return e;
      }
      case Kw::kExists:
      case Kw::kArray: {
        advance();
        if (!atSubquery()) {
          fail(std::string("expected '(SELECT ...)' after ") + std::string(keywordName(t.kw)));
          return nullptr;
        }
        return subqueryExpr(t.kw == Kw::kExists ? ExprKind::kExists : ExprKind::kArrayQuery,
                            t.begin);
      }
      case Kw::kAll:
      case Kw::kFirst:
      case Kw::kLast: {
        if (peekTok().kind == Tok::kLParen) {
          advance();
          if (atSubquery()) {
            return subqueryExpr(t.kw == Kw::kAll     ? ExprKind::kAllQuery
                                : t.kw == Kw::kFirst ? ExprKind::kFirstQuery
                                                     : ExprKind::kLastQuery,
                                t.begin);
          }
          return call(t, false, t.begin);
        }
        break;  // an identifier
      }
      case Kw::kLeft:
      case Kw::kRight: {
        advance();
        if (!is(Tok::kLParen)) {
          fail("expected '(' after " + std::string(keywordName(t.kw)));
          return nullptr;
        }
        return call(t, false, t.begin);
      }
      case Kw::kUdf: {
        advance();
        if (!expect(Tok::kDot, "'.' after udf")) return nullptr;
        if (!isAliasToken(cur())) {
          fail("expected a function name after udf.");
          return nullptr;
        }
        const Token& name = cur();
        advance();
        if (!is(Tok::kLParen)) {
          fail("expected '(' after the UDF name");
          return nullptr;
        }
        return call(name, true, t.begin);
      }
      case Kw::kNone:
        break;
      default:
        fail("expected an expression");
        return nullptr;
    }
    advance();
    if (is(Tok::kLParen)) return call(t, false, t.begin);
    Expr* e = node(ExprKind::kIdent, t.begin);
    e->text = t.text;
    finish(e, t.end);
    return e;
  }

  std::string_view text_;
  ParsedQuery* out_;
  const std::vector<Token>* toks_ = nullptr;
  size_t pos_ = 0;
  size_t nesting_ = 0;
  std::vector<size_t> depth_stack_;  // max depth per open query
  Status error_;
};

}  // namespace

Status parseQuery(std::string_view text, ParsedQuery* out) {
  return Parser(text, out).run(/*condition=*/false);
}

Status parseCondition(std::string_view text, ParsedQuery* out) {
  return Parser(text, out).run(/*condition=*/true);
}

}  // namespace cosmoseal::policy
