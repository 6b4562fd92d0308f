// SHA-256 (FIPS 180-4) of a byte string, as 64 lowercase hex digits: the file hash an
// imported run's provenance records.
#pragma once

#include <string>
#include <string_view>

namespace servesim {

std::string sha256_hex(std::string_view bytes);

}  // namespace servesim
