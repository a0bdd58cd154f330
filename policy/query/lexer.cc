#include "policy/query/lexer.h"

#include "policy/json/text.h"
#include "common/text.h"
#include "policy/query/details.h"

#include <array>
#include <cstring>

namespace cosmoseal::policy {

namespace qd = query_detail;

using common::Code;
using common::Status;

namespace {

struct KeywordEntry {
  std::string_view lower;
  Kw kw;
  bool case_sensitive;  // matches only the lower-case spelling
};

constexpr std::array<KeywordEntry, 36> kKeywords = {{
    {"select", Kw::kSelect, false}, {"distinct", Kw::kDistinct, false},
    {"top", Kw::kTop, false},       {"value", Kw::kValue, false},
    {"as", Kw::kAs, false},         {"from", Kw::kFrom, false},
    {"join", Kw::kJoin, false},     {"in", Kw::kIn, false},
    {"where", Kw::kWhere, false},   {"group", Kw::kGroup, false},
    {"by", Kw::kBy, false},         {"order", Kw::kOrder, false},
    {"asc", Kw::kAsc, false},       {"desc", Kw::kDesc, false},
    {"offset", Kw::kOffset, false}, {"limit", Kw::kLimit, false},
    {"and", Kw::kAnd, false},       {"or", Kw::kOr, false},
    {"not", Kw::kNot, false},       {"between", Kw::kBetween, false},
    {"like", Kw::kLike, false},     {"escape", Kw::kEscape, false},
    {"exists", Kw::kExists, false}, {"array", Kw::kArray, false},
    {"all", Kw::kAll, false},       {"first", Kw::kFirst, false},
    {"last", Kw::kLast, false},     {"left", Kw::kLeft, false},
    {"right", Kw::kRight, false},   {"rank", Kw::kRank, false},
    {"true", Kw::kTrue, true},      {"false", Kw::kFalse, true},
    {"null", Kw::kNull, true},      {"undefined", Kw::kUndefined, true},
    {"udf", Kw::kUdf, true},        {"", Kw::kNone, false},
}};

Kw keywordOf(std::string_view word) noexcept {
  for (const KeywordEntry& e : kKeywords) {
    if (e.lower.empty() || e.lower.size() != word.size()) continue;
    if (e.case_sensitive) {
      if (word == e.lower) return e.kw;
      continue;
    }
    bool eq = true;
    for (size_t i = 0; i < word.size() && eq; ++i) eq = common::lowerAscii(word[i]) == e.lower[i];
    if (eq) return e.kw;
  }
  return Kw::kNone;
}

bool isIdentStart(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isDigit(char c) noexcept { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) noexcept { return isIdentStart(c) || isDigit(c); }

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8SequenceLength(std::string_view s, size_t i) noexcept {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return n;
}

class Lexer {
 public:
  Lexer(std::string_view text, LexResult* out) : s_(text), out_(out) {}

  Status run() {
    if (s_.size() > kMaxQueryBytes) {
      return Status(Code::kInvalidArgument, qd::kTooComplex,
                    "query text is " + std::to_string(s_.size()) + " bytes; the limit is " +
                        std::to_string(kMaxQueryBytes));
    }
    out_->tokens.clear();
    out_->comments.clear();
    while (true) {
      skipSpaceAndComments();
      if (!error_.isOk()) return error_;
      if (out_->tokens.size() >= kMaxQueryTokens) {
        return Status(Code::kInvalidArgument, qd::kTooComplex,
                      "query has more than " + std::to_string(kMaxQueryTokens) + " tokens");
      }
      Token t;
      t.begin = static_cast<uint32_t>(i_);
      if (i_ >= s_.size()) {
        t.kind = Tok::kEnd;
        t.end = t.begin;
        out_->tokens.push_back(std::move(t));
        return Status::ok();
      }
      if (!next(&t)) return error_;
      t.end = static_cast<uint32_t>(i_);
      out_->tokens.push_back(std::move(t));
    }
  }

 private:
  void syntax(size_t at, std::string what) {
    error_ = Status(Code::kInvalidArgument, qd::kSyntax,
                    "syntax error at " + describePosition(s_, at) + ": " + std::move(what));
  }

  char peek(size_t k = 0) const noexcept { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  void skipSpaceAndComments() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++i_;
      } else if (c == '-' && peek(1) == '-') {
        const size_t start = i_;
        while (i_ < s_.size() && s_[i_] != '\n' && s_[i_] != '\r') ++i_;
        out_->comments.emplace_back(static_cast<uint32_t>(start), static_cast<uint32_t>(i_));
      } else if (c == '/' && peek(1) == '*') {
        syntax(i_, "block comments (/* */) are not part of the Cosmos DB query language");
        return;
      } else {
        return;
      }
    }
  }

  bool next(Token* t) {
    const char c = s_[i_];
    if (isIdentStart(c)) {
      const size_t start = i_;
      while (i_ < s_.size() && isIdentChar(s_[i_])) ++i_;
      t->kind = Tok::kIdent;
      t->text.assign(s_.substr(start, i_ - start));
      t->kw = keywordOf(t->text);
      return true;
    }
    if (isDigit(c) || (c == '.' && isDigit(peek(1)))) return number(t);
    if (c == '\'' || c == '"') return string(t);
    if (c == '@') {
      const size_t start = i_++;
      if (!isIdentStart(peek())) {
        syntax(start, "expected a parameter name after '@'");
        return false;
      }
      while (i_ < s_.size() && isIdentChar(s_[i_])) ++i_;
      t->kind = Tok::kParam;
      t->text.assign(s_.substr(start, i_ - start));
      return true;
    }
    return punct(t);
  }

  bool number(Token* t) {
    const size_t start = i_;
    while (isDigit(peek())) ++i_;
    if (peek() == '.') {
      ++i_;
      while (isDigit(peek())) ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      size_t k = 1;
      if (peek(k) == '+' || peek(k) == '-') ++k;
      if (isDigit(peek(k))) {
        i_ += k;
        while (isDigit(peek())) ++i_;
      }
    }
    if (isIdentStart(peek())) {
      syntax(i_, "unexpected character after a number literal");
      return false;
    }
    t->kind = Tok::kNumber;
    t->text.assign(s_.substr(start, i_ - start));
    return true;
  }

  bool string(Token* t) {
    const size_t start = i_;
    const char quote = s_[i_++];
    std::string& v = t->text;
    while (true) {
      if (i_ >= s_.size()) {
        syntax(start, "unterminated string literal");
        return false;
      }
      const char c = s_[i_];
      if (c == quote) {
        ++i_;
        break;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        syntax(i_, "control character inside a string literal; expected an escape such as \\n");
        return false;
      }
      if (c != '\\') {
        const size_t n = utf8SequenceLength(s_, i_);
        if (n == 0) {
          syntax(i_, "invalid UTF-8 inside a string literal");
          return false;
        }
        v.append(s_.substr(i_, n));
        i_ += n;
        continue;
      }
      const size_t esc = i_;
      const char e = peek(1);
      i_ += 2;
      switch (e) {
        case '\'':
          v.push_back('\'');
          break;
        case '"':
          v.push_back('"');
          break;
        case '\\':
          v.push_back('\\');
          break;
        case '/':
          v.push_back('/');
          break;
        case 'b':
          v.push_back('\b');
          break;
        case 'f':
          v.push_back('\f');
          break;
        case 'n':
          v.push_back('\n');
          break;
        case 'r':
          v.push_back('\r');
          break;
        case 't':
          v.push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) {
            syntax(esc, "\\u must be followed by 4 hex digits");
            return false;
          }
          if (cp >= 0xDC00 && cp <= 0xDFFF) {
            syntax(esc, "lone low surrogate in a \\u escape");
            return false;
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (peek() != '\\' || peek(1) != 'u') {
              syntax(esc, "high surrogate not followed by a \\u low surrogate");
              return false;
            }
            i_ += 2;
            if (!hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) {
              syntax(esc, "high surrogate not followed by a \\u low surrogate");
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          appendUtf8(cp, &v);
          break;
        }
        default:
          syntax(esc,
                 "unknown escape in a string literal; expected one of \\' \\\" \\\\ \\/ "
                 "\\b \\f \\n \\r \\t \\uXXXX");
          return false;
      }
    }
    t->kind = Tok::kString;
    return true;
  }

  bool hex4(uint32_t* out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hexDigitValue(peek());
      if (h < 0) return false;
      v = (v << 4) | static_cast<uint32_t>(h);
      ++i_;
    }
    *out = v;
    return true;
  }

  bool punct(Token* t) {
    const char c = s_[i_];
    const char c1 = peek(1);
    const char c2 = peek(2);
    Tok k;
    size_t n = 1;
    switch (c) {
      case '.':
        k = Tok::kDot;
        break;
      case ',':
        k = Tok::kComma;
        break;
      case '(':
        k = Tok::kLParen;
        break;
      case ')':
        k = Tok::kRParen;
        break;
      case '[':
        k = Tok::kLBracket;
        break;
      case ']':
        k = Tok::kRBracket;
        break;
      case '{':
        k = Tok::kLBrace;
        break;
      case '}':
        k = Tok::kRBrace;
        break;
      case ':':
        k = Tok::kColon;
        break;
      case '?':
        k = c1 == '?' ? Tok::kCoalesce : Tok::kQuestion;
        n = c1 == '?' ? 2 : 1;
        break;
      case '*':
        k = Tok::kStar;
        break;
      case '/':
        k = Tok::kSlash;
        break;
      case '%':
        k = Tok::kPercent;
        break;
      case '+':
        k = Tok::kPlus;
        break;
      case '-':
        k = Tok::kMinus;
        break;
      case '~':
        k = Tok::kTilde;
        break;
      case '=':
        k = Tok::kEq;
        break;
      case '!':
        if (c1 != '=') {
          syntax(i_, "'!' must be followed by '='");
          return false;
        }
        k = Tok::kNe;
        n = 2;
        break;
      case '<':
        if (c1 == '=') {
          k = Tok::kLe;
          n = 2;
        } else if (c1 == '>') {
          k = Tok::kNe;
          n = 2;
        } else if (c1 == '<') {
          k = Tok::kShl;
          n = 2;
        } else {
          k = Tok::kLt;
        }
        break;
      case '>':
        if (c1 == '=') {
          k = Tok::kGe;
          n = 2;
        } else if (c1 == '>' && c2 == '>') {
          k = Tok::kShrZero;
          n = 3;
        } else if (c1 == '>') {
          k = Tok::kShr;
          n = 2;
        } else {
          k = Tok::kGt;
        }
        break;
      case '&':
        k = Tok::kAmp;
        break;
      case '^':
        k = Tok::kCaret;
        break;
      case '|':
        k = c1 == '|' ? Tok::kConcat : Tok::kPipe;
        n = c1 == '|' ? 2 : 1;
        break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) {
          syntax(i_, "unexpected control character");
        } else if (u >= 0x80) {
          syntax(i_, "unexpected non-ASCII character outside a string literal");
        } else {
          syntax(i_, std::string("unexpected character '") + c + "'");
        }
        return false;
      }
    }
    t->kind = k;
    i_ += n;
    return true;
  }

  std::string_view s_;
  LexResult* out_;
  size_t i_ = 0;
  Status error_;
};

}  // namespace

Status lexQuery(std::string_view query, LexResult* out) { return Lexer(query, out).run(); }

std::string describePosition(std::string_view text, size_t offset) {
  size_t line = 1;
  size_t col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      col = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

std::string_view keywordName(Kw kw) noexcept {
  switch (kw) {
    case Kw::kNone:
      return "";
    case Kw::kSelect:
      return "SELECT";
    case Kw::kDistinct:
      return "DISTINCT";
    case Kw::kTop:
      return "TOP";
    case Kw::kValue:
      return "VALUE";
    case Kw::kAs:
      return "AS";
    case Kw::kFrom:
      return "FROM";
    case Kw::kJoin:
      return "JOIN";
    case Kw::kIn:
      return "IN";
    case Kw::kWhere:
      return "WHERE";
    case Kw::kGroup:
      return "GROUP";
    case Kw::kBy:
      return "BY";
    case Kw::kOrder:
      return "ORDER";
    case Kw::kAsc:
      return "ASC";
    case Kw::kDesc:
      return "DESC";
    case Kw::kOffset:
      return "OFFSET";
    case Kw::kLimit:
      return "LIMIT";
    case Kw::kAnd:
      return "AND";
    case Kw::kOr:
      return "OR";
    case Kw::kNot:
      return "NOT";
    case Kw::kBetween:
      return "BETWEEN";
    case Kw::kLike:
      return "LIKE";
    case Kw::kEscape:
      return "ESCAPE";
    case Kw::kExists:
      return "EXISTS";
    case Kw::kArray:
      return "ARRAY";
    case Kw::kAll:
      return "ALL";
    case Kw::kFirst:
      return "FIRST";
    case Kw::kLast:
      return "LAST";
    case Kw::kLeft:
      return "LEFT";
    case Kw::kRight:
      return "RIGHT";
    case Kw::kRank:
      return "RANK";
    case Kw::kTrue:
      return "true";
    case Kw::kFalse:
      return "false";
    case Kw::kNull:
      return "null";
    case Kw::kUndefined:
      return "undefined";
    case Kw::kUdf:
      return "udf";
  }
  return "";
}

std::string describeToken(const Token& t) {
  switch (t.kind) {
    case Tok::kEnd:
      return "end of query";
    case Tok::kIdent:
      if (t.kw != Kw::kNone) return "keyword " + std::string(keywordName(t.kw));
      return "identifier '" + t.text + "'";
    case Tok::kNumber:
      return "number literal";
    case Tok::kString:
      return "string literal";
    case Tok::kParam:
      return "parameter " + t.text;
    case Tok::kDot:
      return "'.'";
    case Tok::kComma:
      return "','";
    case Tok::kLParen:
      return "'('";
    case Tok::kRParen:
      return "')'";
    case Tok::kLBracket:
      return "'['";
    case Tok::kRBracket:
      return "']'";
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kColon:
      return "':'";
    case Tok::kQuestion:
      return "'?'";
    case Tok::kCoalesce:
      return "'?\?'";
    case Tok::kStar:
      return "'*'";
    case Tok::kSlash:
      return "'/'";
    case Tok::kPercent:
      return "'%'";
    case Tok::kPlus:
      return "'+'";
    case Tok::kMinus:
      return "'-'";
    case Tok::kTilde:
      return "'~'";
    case Tok::kEq:
      return "'='";
    case Tok::kNe:
      return "'!='";
    case Tok::kLt:
      return "'<'";
    case Tok::kLe:
      return "'<='";
    case Tok::kGt:
      return "'>'";
    case Tok::kGe:
      return "'>='";
    case Tok::kShl:
      return "'<<'";
    case Tok::kShr:
      return "'>>'";
    case Tok::kShrZero:
      return "'>>>'";
    case Tok::kAmp:
      return "'&'";
    case Tok::kPipe:
      return "'|'";
    case Tok::kCaret:
      return "'^'";
    case Tok::kConcat:
      return "'||'";
  }
  return "token";
}

}  // namespace cosmoseal::policy
