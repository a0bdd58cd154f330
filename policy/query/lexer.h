#pragma once

// Lexer for the Azure Cosmos DB for NoSQL query language (the SQL dialect of
// `POST .../docs` query bodies and patch conditions).
//
// Token rules follow the service grammar (the .NET SDK ships it as sql.g4):
//   * whitespace is space, TAB, CR and LF only;
//   * `-- ...` is a comment up to the end of the line (the query engine of the test server
//     accepts it too). `/* */` is NOT part of the language and is a syntax error;
//   * identifiers are [A-Za-z_][A-Za-z0-9_]*, parameters '@' + identifier;
//   * keywords are case-insensitive, except `true false null undefined udf`, which are
//     lower-case only (`TRUE` is an identifier, as in the service grammar);
//   * numbers: DIGIT+ ('.' DIGIT*)? (e [+-]? DIGIT+)? | '.' DIGIT+ (e [+-]? DIGIT+)? (the sign is
//     an operator here; the parser folds a unary minus into a following number literal);
//   * strings in '...' or "...", escapes \' \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs
//     combine; a lone surrogate, an unknown escape or a raw control character is an error).
//     The token keeps the decoded UTF-8 value.
//
// Error: InvalidArgument "query.syntax" with the position ("at line L, column C"). Messages
// never quote string or number literals (they may be protected values); they name the token
// kind instead. Limits: kMaxQueryBytes, kMaxQueryTokens -> "query.too_complex".

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy {

inline constexpr size_t kMaxQueryBytes = 256 * 1024;
inline constexpr size_t kMaxQueryTokens = 65536;

enum class Tok : uint8_t {
  kEnd,
  kIdent,   // identifier or keyword (see Token::kw)
  kNumber,  // text = spelling
  kString,  // text = decoded UTF-8 value
  kParam,   // text = "@name"
  kDot,
  kComma,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kColon,
  kQuestion,
  kCoalesce,  // ? ??
  kStar,
  kSlash,
  kPercent,
  kPlus,
  kMinus,
  kTilde,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,  // = (!= and <>) < <= > >=
  kShl,
  kShr,
  kShrZero,  // << >> >>>
  kAmp,
  kPipe,
  kCaret,
  kConcat,  // & | ^ ||
};

// Keywords (Token::kw). kNone for plain identifiers.
enum class Kw : uint8_t {
  kNone,
  kSelect,
  kDistinct,
  kTop,
  kValue,
  kAs,
  kFrom,
  kJoin,
  kIn,
  kWhere,
  kGroup,
  kBy,
  kOrder,
  kAsc,
  kDesc,
  kOffset,
  kLimit,
  kAnd,
  kOr,
  kNot,
  kBetween,
  kLike,
  kEscape,
  kExists,
  kArray,
  kAll,
  kFirst,
  kLast,
  kLeft,
  kRight,
  kRank,
  kTrue,
  kFalse,
  kNull,
  kUndefined,
  kUdf,  // lower-case only
};

struct Token {
  Tok kind = Tok::kEnd;
  Kw kw = Kw::kNone;
  uint32_t begin = 0;  // byte offsets into the query text
  uint32_t end = 0;
  std::string text;  // see Tok
};

struct LexResult {
  std::vector<Token> tokens;  // always ends with one kEnd token
  // Byte ranges [begin, end) of comments (without the terminating line break).
  std::vector<std::pair<uint32_t, uint32_t>> comments;
};

// Splits `query` (UTF-8) into tokens.
common::Status lexQuery(std::string_view query, LexResult* out);

// "line L, column C" (1-based; the column counts code points) of byte `offset` in `text`.
std::string describePosition(std::string_view text, size_t offset);

// A short, literal-free description of a token for error messages: "identifier 'c'",
// "string literal", "number literal", "'('", "end of query", "keyword WHERE".
std::string describeToken(const Token& token);

// The canonical upper-case spelling of a keyword ("SELECT"); "" for kNone.
std::string_view keywordName(Kw kw) noexcept;

}  // namespace cosmoseal::policy
