#include "sim/core/input_file.hpp"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {

void check_input_file(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(fmt::format("{} {} does not exist", what, path));
  if (!fs::is_regular_file(st)) {
    throw Error(fmt::format("{} {} is not a regular file (a folder, device or pipe)", what, path));
  }
  constexpr std::uintmax_t kMax = 4ULL << 30;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMax) {
    throw Error(fmt::format("{} {} is larger than servesim reads ({} bytes; at most 4 GiB)", what,
                            path, ec ? 0 : size));
  }
}

}  // namespace servesim
