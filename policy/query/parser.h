#pragma once

// Parser for the Azure Cosmos DB for NoSQL query language: builds an AST that the query
// analyzer (policy/query/analyzer.h) walks to find every reference to a document path.
//
// Grammar (the service grammar, as in the .NET SDK's sql.g4, with the documented extensions):
//   query      := SELECT [DISTINCT] [TOP n|@p] (* | VALUE expr | item (, item)*)
//                 [FROM source (JOIN source)*] [WHERE expr] [GROUP BY expr (, expr)*]
//                 [ORDER BY (expr [ASC|DESC] (, ...)* | RANK call [ASC|DESC] (, ...)*)]
//                 [OFFSET n|@p LIMIT n|@p]
//   item       := expr [[AS] alias]
//   source     := collection [[AS] alias] | alias IN collection
//   collection := ident ( .name | [number] | ['string'] )* | ( query )
//   condition  := FROM source (JOIN source)* [WHERE expr]     (patch conditions; SELECT optional)
// Expressions, loosest first:
//   a ? b : c          (right-associative)
//   a ?? b
//   OR, AND            (n-ary nodes: long OR chains do not deepen the tree)
//   x [NOT] IN (list) | x [NOT] LIKE y [ESCAPE 's'] | x [NOT] BETWEEN lo AND hi
//   ||  |  ^  &  (= != <>)  (< <= > >=)  (<< >> >>>)  (+ -)  (* / %)   (loosest to tightest)
//   unary - + ~ NOT    (NOT is a tight unary operator, as in the service grammar:
//                       `NOT c.a = 1` is `(NOT c.a) = 1`)
//   postfix .name  [expr]
//   primary: literal | @param | ident | (expr) | (query) | [list] | {"k": v, k: v}
//            | name(args) | udf.name(args) | EXISTS(query) | ARRAY(query) | ALL(query)
//            | FIRST(query) | LAST(query) | LEFT(args) | RIGHT(args)
// A unary minus directly before a number literal is folded into the literal ("-5"), so that
// `c.n = -5` compares with the JSON token -5.
//
// Errors (InvalidArgument): "query.syntax" with "at line L, column C"; "query.too_complex" when
// nesting exceeds kMaxQueryNesting (parentheses, subqueries, unary chains) or the tree gets
// deeper than kMaxExprDepth. Recursion is bounded by these limits, never by the input.
//
// Ownership: a ParsedQuery owns every node (stable addresses); it keeps no reference to the
// query text after parsing, but node offsets refer to it.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/query/lexer.h"

namespace cosmoseal::policy {

inline constexpr size_t kMaxQueryNesting = 64;
inline constexpr size_t kMaxExprDepth = 256;

enum class ExprKind : uint8_t {
  kLiteral,     // lit, text
  kParam,       // text = "@name"
  kIdent,       // text = name (an alias)
  kMember,      // args[0] . text
  kIndex,       // args[0] [ args[1] ]
  kUnary,       // op args[0]
  kBinary,      // args[0] op args[1]
  kAnd,         // args (n-ary)
  kOr,          // args (n-ary)
  kIn,          // args[0] [NOT] IN (args[1..])
  kLike,        // args[0] [NOT] LIKE args[1] [ESCAPE args[2]]
  kBetween,     // args[0] [NOT] BETWEEN args[1] AND args[2]
  kTernary,     // args[0] ? args[1] : args[2]
  kCoalesce,    // args[0] ?? args[1]
  kCall,        // text = function name (as written), udf flag, args
  kObject,      // keys[i] : args[i]
  kArray,       // [args]
  kSubquery,    // (query): scalar subquery
  kExists,      // EXISTS(query)
  kArrayQuery,  // ARRAY(query)
  kAllQuery,    // ALL(query)
  kFirstQuery,  // FIRST(query)
  kLastQuery,   // LAST(query)
};

enum class LiteralKind : uint8_t { kString, kNumber, kTrue, kFalse, kNull, kUndefined };

enum class Op : uint8_t {
  kNone,
  // unary
  kNeg,
  kPos,
  kBitNot,
  kNot,
  // binary
  kMul,
  kDiv,
  kMod,
  kAdd,
  kSub,
  kShl,
  kShr,
  kShrZero,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kBitAnd,
  kBitXor,
  kBitOr,
  kConcat,
};

std::string_view opName(Op op) noexcept;  // "=", "<", "NOT", "||", ...

struct Query;

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  Op op = Op::kNone;
  LiteralKind lit = LiteralKind::kNull;
  bool negated = false;        // NOT IN / NOT LIKE / NOT BETWEEN
  bool udf = false;            // kCall: udf.name(...)
  bool parenthesized = false;  // written inside ( )
  uint16_t depth = 1;          // height of this subtree
  uint32_t begin = 0;          // byte span in the query text
  uint32_t end = 0;
  // kLiteral: string = decoded UTF-8, number = spelling ("-5" when folded); kParam: "@name";
  // kIdent: name; kMember: property name; kCall: function name as written.
  std::string text;
  std::vector<Expr*> args;
  std::vector<std::string> keys;  // kObject
  Query* query = nullptr;         // subquery kinds
};

struct FromSource {
  enum class Kind : uint8_t { kAliased, kIn };
  Kind kind = Kind::kAliased;
  // The collection: a path expression (kIdent followed by kMember / kIndex with a literal
  // index only) or, when `subquery` is set, a subquery.
  Expr* path = nullptr;
  Query* subquery = nullptr;
  std::string alias;  // explicit alias ("" if none; kIn always has one)
  uint32_t begin = 0;
};

struct SelectItem {
  Expr* expr = nullptr;
  std::string alias;  // "" if none
};

struct OrderItem {
  Expr* expr = nullptr;
  bool descending = false;
};

struct Query {
  enum class Select : uint8_t { kStar, kValue, kList, kNone /* patch condition */ };
  Select select = Select::kNone;
  bool distinct = false;
  Expr* top = nullptr;            // literal or parameter
  Expr* value = nullptr;          // SELECT VALUE expr
  std::vector<SelectItem> items;  // SELECT item, ...
  std::vector<FromSource> from;   // [0] = FROM, [1..] = JOINs
  Expr* where = nullptr;
  std::vector<Expr*> group_by;
  std::vector<OrderItem> order_by;
  bool order_by_rank = false;
  Expr* offset = nullptr;  // literal or parameter
  Expr* limit = nullptr;
  uint32_t begin = 0;
  uint16_t depth = 0;  // height of the deepest expression inside
};

struct ParsedQuery {
  Query* root = nullptr;
  LexResult lex;
  std::deque<Expr> exprs;
  std::deque<Query> queries;
};

// Parses a full query (SELECT ...).
common::Status parseQuery(std::string_view text, ParsedQuery* out);

// Parses a patch condition: "FROM c [JOIN ...] [WHERE ...]" or a full "SELECT ..." query.
common::Status parseCondition(std::string_view text, ParsedQuery* out);

}  // namespace cosmoseal::policy
