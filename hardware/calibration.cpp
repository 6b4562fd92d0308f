#include "hardware/calibration.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "sim/core/error.hpp"
#include "sim/core/toml_reader.hpp"

namespace servesim {

Calibration load_calibration(const std::string& path) {
  const toml::table t = parse_toml_file(path);
  TableReader r(t, path, "");
  Calibration c;
  c.path = path;
  auto prov = r.table("provenance");
  if (!prov) throw Error(fmt::format("{}: missing table [provenance]", path));
  for (const auto& [k, v] : *t["provenance"].as_table()) {
    const std::string key(k.str());
    c.provenance[key] = prov->required(prov->string(key), key);
  }
  prov->finish();
  auto params = r.table("params");
  if (!params) {
    throw Error(fmt::format("{}: missing table [params] with the fitted parameters", path));
  }
  for (const CostParamField& f : cost_param_fields()) {
    const double v =
        f.is_time()
            ? params->required(params->quantity(
                                   f.key, Dimension::kTime,
                                   f.range == CostParamField::Range::kSignedTime),
                               f.key)
            : params->required(params->number(f.key), f.key);
    if (!f.valid(v)) {
      throw Error(fmt::format("{}: \"{}\" must be {}, got {}", params->location_of(f.key),
                              params->key_path(f.key), f.range_text(), v));
    }
    f.set(c.params, v);
  }
  params->finish();
  if (auto res = r.table("residuals")) {
    for (const auto& [k, v] : *t["residuals"].as_table()) {
      const std::string key(k.str());
      auto entry = res->table(key);
      if (!entry) continue;
      FitResidual fr;
      fr.rms_relative = entry->required(entry->number("rms_relative"), "rms_relative");
      fr.points = static_cast<int>(entry->required(entry->integer("points"), "points"));
      entry->finish();
      c.residuals[key] = fr;
    }
    res->finish();
  }
  r.finish();
  return c;
}

void write_calibration(const std::string& path, const Calibration& c) {
  std::ofstream out(path);
  if (!out) throw Error(fmt::format("cannot write calibration file {}", path));
  if (c.provenance.count("derived_from")) {
    fmt::print(out, "# servesim calibration: cost-model parameters DERIVED (not measured) from the\n"
                    "# calibration of another GPU and this GPU's datasheet; see [provenance].\n");
  } else {
    fmt::print(out, "# servesim calibration: cost-model parameters fitted from microbenchmarks.\n");
  }
  fmt::print(out, "# Written by servesim calibrate; docs/calibration.md explains each parameter.\n\n");
  fmt::print(out, "[provenance]\n");
  for (const auto& [k, v] : c.provenance) fmt::print(out, "{} = \"{}\"\n", k, v);
  fmt::print(out, "\n[params]\n");
  for (const CostParamField& f : cost_param_fields()) {
    if (f.is_time()) {
      fmt::print(out, "{} = \"{:.4g} us\"\n", f.key, to_us(c.params.*f.time));
    } else {
      fmt::print(out, "{} = {:.6g}\n", f.key, f.get(c.params));
    }
  }
  fmt::print(out, "\n[residuals]   # RMS relative error of the fitted model over each group's points\n");
  for (const auto& [k, v] : c.residuals) {
    fmt::print(out, "{} = {{ rms_relative = {:.4f}, points = {} }}\n", k, v.rms_relative, v.points);
  }
  if (!out) throw Error(fmt::format("cannot write calibration file {}", path));
}

CalibrationChoice choose_calibration(const std::string& setting, const Catalog& catalog,
                                     const DeviceSpec& gpu) {
  CalibrationChoice choice;
  std::string path;
  if (setting == "none") {
    choice.params = gpu.defaults;
    choice.description = fmt::format("none (catalog defaults for {}, --calibration none)", gpu.name);
    return choice;
  }
  if (setting.empty() || setting == "auto") {
    const auto p = catalog.calibration_path(gpu.name);
    if (!p) {
      choice.params = gpu.defaults;
      choice.description =
          fmt::format("none (no calibration/results/{}.toml; catalog defaults)", gpu.name);
      return choice;
    }
    path = *p;
  } else {
    path = setting;
  }
  const Calibration c = load_calibration(path);
  choice.params = c.params;
  choice.path = path;
  auto get = [&](const char* k) {
    auto it = c.provenance.find(k);
    return it == c.provenance.end() ? std::string("?") : it->second;
  };
  const std::string shown = setting.empty() || setting == "auto"
                               ? "calibration/results/" + gpu.name + ".toml"
                               : path;
  if (c.provenance.count("derived_from")) {
    choice.description = fmt::format("{} (derived from {}, not measured on this GPU)", shown,
                                     get("derived_from"));
  } else {
    choice.description = fmt::format("{} (fitted on {}, driver {}, {})", shown, get("gpu"),
                                     get("driver"), get("date"));
  }
  return choice;
}

}  // namespace servesim
