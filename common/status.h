#pragma once

// Status / StatusOr: the error currency of every module.
//
// A non-OK Status carries three things:
//   * a Code: the category, which maps to the HTTP status of a local reply (httpStatus());
//   * a detail code: a short, stable, dotted identifier ("http1.cl_and_te", "crypto.auth_failed")
//     that is logged, counted in metrics, returned to the client in x-cosmoseal-detail and
//     asserted by tests. Detail codes are part of the product's contract: never rename one;
//   * a human message that explains what happened and, where it helps, what to do.
//
// Status never throws and is cheap when OK (no allocation).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cosmoseal::common {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,     // 400: malformed or unsupported client input
  kUnauthenticated,     // 401: signature missing/invalid
  kPermissionDenied,    // 403: authenticated but not allowed (rules, direct mode)
  kNotFound,            // 404
  kMethodNotAllowed,    // 405
  kRequestTimeout,      // 408: the client was too slow
  kTooLarge,            // 413: body over a limit
  kUriTooLong,          // 414
  kUnsupportedMedia,    // 415: compressed or binary body on a protected route
  kRateLimited,         // 429
  kHeadersTooLarge,     // 431
  kInternal,            // 500: a bug or an environment failure (RAND_bytes, ...)
  kNotImplemented,      // 501
  kBadGateway,          // 502: the upstream misbehaved, or a response could not be decrypted
  kUnavailable,         // 503: overloaded, draining, audit unavailable
  kGatewayTimeout,      // 504: the upstream was too slow
  kFailedPrecondition,  // 500 by default: configuration/keyring problems found at load time
};

// The HTTP status that a local reply for this code uses.
int httpStatusFor(Code code) noexcept;
// A short lower-case name ("invalid_argument") for logs.
std::string_view codeName(Code code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(Code code, std::string_view detail, std::string message);

  static Status ok() noexcept { return Status(); }

  bool isOk() const noexcept { return rep_ == nullptr; }
  explicit operator bool() const noexcept { return isOk(); }
  Code code() const noexcept { return rep_ ? rep_->code : Code::kOk; }
  // Stable detail code; "" when OK.
  std::string_view detail() const noexcept;
  std::string_view message() const noexcept;
  int httpStatus() const noexcept { return httpStatusFor(code()); }

  // "detail: message" (or "ok").
  std::string toString() const;

  // Returns a copy with the message prefixed by `context + ": "`.
  Status withContext(std::string_view context) const;

  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

 private:
  struct Rep {
    Code code;
    std::string detail;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

// Convenience constructors.
Status invalidArgument(std::string_view detail, std::string message);
Status internalError(std::string_view detail, std::string message);
Status failedPrecondition(std::string_view detail, std::string message);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const T& value) : value_(value) {}                 // NOLINT(google-explicit-constructor)
  StatusOr(T&& value) noexcept : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : status_(std::move(status)) {      // NOLINT(google-explicit-constructor)
    if (status_.isOk()) {
      status_ = Status(Code::kInternal, "internal.statusor_ok", "StatusOr built from an OK Status");
    }
  }

  bool isOk() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return isOk(); }
  const Status& status() const noexcept { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace cosmoseal::common

#define COSMOSEAL_CONCAT_INNER_(a, b) a##b
#define COSMOSEAL_CONCAT_(a, b) COSMOSEAL_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK. The temporary has a name of
// its own per expansion (__COUNTER__): `expr` may hold a lambda that uses the macro itself.
#define COSMOSEAL_RETURN_IF_ERROR(expr) \
  COSMOSEAL_RETURN_IF_ERROR_IMPL_(COSMOSEAL_CONCAT_(status_macro_, __COUNTER__), expr)
// `tmp` is a name: it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define COSMOSEAL_RETURN_IF_ERROR_IMPL_(tmp, expr) \
  do {                                             \
    ::cosmoseal::common::Status tmp = (expr);      \
    if (!tmp.isOk()) return tmp;                   \
  } while (0)
// NOLINTEND(bugprone-macro-parentheses)

// `lhs = value of expr`, or return its Status.
#define COSMOSEAL_ASSIGN_OR_RETURN(lhs, expr) \
  COSMOSEAL_ASSIGN_OR_RETURN_IMPL_(COSMOSEAL_CONCAT_(statusor_macro_, __LINE__), lhs, expr)
// `tmp` is a name and `lhs` may be a declaration (`auto x`): neither can be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define COSMOSEAL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.isOk()) return tmp.status();                  \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
