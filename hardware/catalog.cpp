#include "hardware/catalog.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> stems(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".toml") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || s.ends_with(".toml") || s.ends_with(".json");
}

}  // namespace

Catalog Catalog::standard() {
  if (const char* env = std::getenv("SERVESIM_DATA_DIR"); env && *env) return Catalog(env);
  return Catalog(SERVESIM_SOURCE_DIR);
}

fs::path Catalog::resolve(const std::string& name_or_path, const fs::path& dir, const char* what,
                          const std::vector<std::string>& names) const {
  if (looks_like_path(name_or_path)) {
    if (!fs::exists(name_or_path)) {
      throw Error(fmt::format("{} file \"{}\" does not exist", what, name_or_path));
    }
    return name_or_path;
  }
  fs::path p = dir / (name_or_path + ".toml");
  if (!fs::exists(p)) {
    throw Error(fmt::format("unknown {} \"{}\"; valid names are: {} (or give a path to a file "
                            "of your own)",
                            what, name_or_path, join(names)));
  }
  return p;
}

ModelSpec Catalog::model(const std::string& name_or_path, bool allow_approximate) const {
  ModelSpec m = load_model_file(resolve(name_or_path, root_ / "models/catalog", "model", model_names()),
                                allow_approximate);
  if (!looks_like_path(name_or_path)) m.name = name_or_path;
  return m;
}

DeviceSpec Catalog::gpu(const std::string& name_or_path) const {
  const fs::path p = resolve(name_or_path, root_ / "hardware/catalog/gpus", "GPU", gpu_names());
  return load_device_file(p.string(), p.stem().string());
}

LinkSpec Catalog::link(const std::string& name_or_path) const {
  const fs::path p = resolve(name_or_path, root_ / "hardware/catalog/links", "link", link_names());
  return load_link_file(p.string(), p.stem().string());
}

std::optional<std::string> Catalog::calibration_path(const std::string& gpu_name) const {
  const fs::path p = root_ / "calibration/results" / (gpu_name + ".toml");
  if (!fs::exists(p)) return std::nullopt;
  return p.string();
}

std::vector<std::string> Catalog::model_names() const { return stems(root_ / "models/catalog"); }
std::vector<std::string> Catalog::gpu_names() const {
  return stems(root_ / "hardware/catalog/gpus");
}
std::vector<std::string> Catalog::link_names() const {
  return stems(root_ / "hardware/catalog/links");
}

}  // namespace servesim
