// Status and Result: how every pipeline stage reports failure.
// Stage code never throws across its API; exceptions are caught only at the
// CLI edge (src/main.cc), which maps a Status code to the process exit code.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lcde {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidConfig,  // bad key, type, value or path in the config: exit 2
    kNotFound,       // a file or directory that should exist does not
    kIOError,        // read/write/rename failed (disk full, permissions)
    kCorruption,     // input or dataset bytes are not what they claim
    kInterrupted,    // a signal asked us to stop
    kDataError,      // bad input under --strict: exit 3
  };

  // OK is a null pointer (as in leveldb; a moved-from Status is OK): the hot paths return OK millions
  // of times a second, and an empty std::string member cost its set-up and
  // disposal on every return.
  Status() noexcept = default;
  Status(const Status& other) : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }
  static Status InvalidConfig(std::string msg) { return Status(Code::kInvalidConfig, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Interrupted(std::string msg) { return Status(Code::kInterrupted, std::move(msg)); }
  static Status DataError(std::string msg) { return Status(Code::kDataError, std::move(msg)); }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // "" when OK.
  const std::string& message() const { return state_ ? state_->message : EmptyMessage(); }
  std::string ToString() const;

 private:
  struct State {
    Code code;
    std::string message;
  };
  // REQUIRES: code != kOk.
  Status(Code code, std::string msg) : state_(std::make_unique<State>(State{code, std::move(msg)})) {}
  static const std::string& EmptyMessage();
  std::unique_ptr<State> state_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}    // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace lcde

#define LCDE_RETURN_IF_ERROR(expr)          \
  do {                                      \
    ::lcde::Status _lcde_s = (expr);        \
    if (!_lcde_s.ok()) return _lcde_s;      \
  } while (0)
