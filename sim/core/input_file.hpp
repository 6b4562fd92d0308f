// Files servesim reads are regular files of a bounded size: a device (/dev/zero), a FIFO or
// a folder given where a file belongs would otherwise read forever or fail obscurely.
#pragma once

#include <string>

namespace servesim {

// Throws Error naming `what` and `path` unless it is a regular file of at most 4 GiB.
void check_input_file(const std::string& path, const std::string& what);

}  // namespace servesim
