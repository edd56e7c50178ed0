// Status and StatusOr<T>: rtml's error values.
//
// Expected failures (bad input, unknown object, conflict, overload) travel as
// values, never as exceptions. Each StatusCode maps onto exactly one HTTP
// status (see HttpStatusOf) so the server layer needs no per-call mapping.
// Thread-safety: plain value types; distinct objects may be used from
// different threads freely.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rtml {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,    // 400: the caller's input is wrong
  kUnimplemented,      // 400: valid input using something rtml does not support
  kUnauthenticated,    // 401
  kPermissionDenied,   // 403
  kNotFound,           // 404
  kDeadlineExceeded,   // 408: the client was too slow (or a time limit hit)
  kConflict,           // 409: state conflicts with the request
  kTooLarge,           // 413: a size limit was exceeded
  kResourceExhausted,  // 429: overloaded or rate limited
  kInternal,           // 500: a bug in rtml
  kUnavailable,        // 503: not ready
};

// Canonical upper-case name, as used in the "code" field of error bodies.
std::string_view StatusCodeName(StatusCode code);
int HttpStatusOf(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "INVALID_ARGUMENT: message" (or "OK").
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>"; OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // Explicitly discards a status whose failure is acceptable.
  void IgnoreError() const {}

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;  // null means OK: the OK path never allocates
};

inline Status OkStatus() { return Status(); }
Status InvalidArgumentError(std::string message);
Status UnimplementedError(std::string message);
Status UnauthenticatedError(std::string message);
Status PermissionDeniedError(std::string message);
Status NotFoundError(std::string message);
Status DeadlineExceededError(std::string message);
Status ConflictError(std::string message);
Status TooLargeError(std::string message);
Status ResourceExhaustedError(std::string message);
Status InternalError(std::string message);
Status UnavailableError(std::string message);

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {  // NOLINT: implicit by design
    assert(!status_.ok() && "StatusOr constructed from an OK status");
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an OK status");
  }
  StatusOr(Status&& status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "StatusOr constructed from an OK status");
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an OK status");
  }
  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, StatusOr<T>>>>
  StatusOr(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  const T& value() const& { assert(ok()); return *value_; }
  T& value() & { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

namespace internal_status {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
const Status& AsStatus(const StatusOr<T>& s) { return s.status(); }
}  // namespace internal_status

}  // namespace rtml

#define RTML_STATUS_CONCAT_INNER(a, b) a##b
#define RTML_STATUS_CONCAT(a, b) RTML_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status or StatusOr) failed.
#define RETURN_IF_ERROR(expr)                                                   \
  do {                                                                          \
    const auto& rtml_status_ref_ = (expr);                                      \
    if (!::rtml::internal_status::AsStatus(rtml_status_ref_).ok())              \
      return ::rtml::internal_status::AsStatus(rtml_status_ref_);               \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates the StatusOr `expr`; on failure
// returns its status, otherwise move-assigns the value to `lhs` (which may be
// a declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  RTML_ASSIGN_OR_RETURN_IMPL(RTML_STATUS_CONCAT(rtml_statusor_, __LINE__), lhs, expr)
#define RTML_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()
