// One error type for everything a user can get wrong: the message says what was wrong,
// where, and what would be valid. The CLI prints it and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace servesim {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "a, b, c" — for "valid values are: ..." messages.
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

}  // namespace servesim
