#include "lcde/status.h"

namespace lcde {

const std::string& Status::EmptyMessage() {
  static const std::string empty;
  return empty;
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code()) {
    case Code::kOk: return "OK";
    case Code::kInvalidConfig: name = "invalid config"; break;
    case Code::kNotFound: name = "not found"; break;
    case Code::kIOError: name = "I/O error"; break;
    case Code::kCorruption: name = "corruption"; break;
    case Code::kInterrupted: name = "interrupted"; break;
    case Code::kDataError: name = "bad input"; break;
  }
  return std::string(name) + ": " + message();
}

}  // namespace lcde
