// Finds catalog entries by name (or a user's own file by path) and lists what exists.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hardware/device_spec.hpp"
#include "models/model_spec.hpp"

namespace servesim {

class Catalog {
 public:
  // The folder holding models/catalog and hardware/catalog: $SERVESIM_DATA_DIR if set, else
  // the source tree the binary was built from.
  static Catalog standard();
  explicit Catalog(std::filesystem::path root) : root_(std::move(root)) {}

  // A name from the catalog, or a path to a .toml/.json file of one's own (load_model_file
  // says what allow_approximate accepts).
  ModelSpec model(const std::string& name_or_path, bool allow_approximate = false) const;
  DeviceSpec gpu(const std::string& name_or_path) const;
  LinkSpec link(const std::string& name_or_path) const;

  // calibration/results/<gpu>.toml when it exists.
  std::optional<std::string> calibration_path(const std::string& gpu_name) const;

  std::vector<std::string> model_names() const;
  std::vector<std::string> gpu_names() const;
  std::vector<std::string> link_names() const;

 private:
  std::filesystem::path resolve(const std::string& name_or_path, const std::filesystem::path& dir,
                                const char* what, const std::vector<std::string>& names) const;
  std::filesystem::path root_;
};

}  // namespace servesim
