#include "hardware/calibration.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "sim/core/error.hpp"
#include "sim/core/toml_reader.hpp"

namespace servesim {
namespace {

// "n8" -> 8: the GPU count of a [collectives.<collective>.n<GPUs>] table.
int gpus_of(const std::string& key, const TableReader& parent) {
  int n = 0;
  bool ok = key.size() > 1 && key[0] == 'n';
  if (ok) {
    const auto r = std::from_chars(key.data() + 1, key.data() + key.size(), n);
    ok = r.ec == std::errc{} && r.ptr == key.data() + key.size() && n >= 2 && n <= 1024;
  }
  if (!ok) {
    throw Error(fmt::format("{}: \"{}\" is not a GPU count: name each table n<GPUs> with GPUs "
                            "from 2 to 1024, e.g. n8",
                            parent.location_of(key), parent.key_path(key)));
  }
  return n;
}

CollectiveFit read_collective_fit(TableReader& e) {
  CollectiveFit f;
  f.latency = Seconds(e.required(e.quantity("latency", Dimension::kTime), "latency"));
  f.latency_eager = Seconds(e.required(e.quantity("latency_eager", Dimension::kTime), "latency_eager"));
  f.bus_bandwidth = BytesPerSecond(
      e.required(e.quantity("bus_bandwidth", Dimension::kBandwidth), "bus_bandwidth"));
  for (const char* key : {"latency", "latency_eager"}) {
    const Seconds v = std::string(key) == "latency" ? f.latency : f.latency_eager;
    if (!(v.value <= 1.0)) {
      throw Error(fmt::format("{}: \"{}\" is one collective's fixed time and must be at most 1 s",
                              e.location_of(key), e.key_path(key)));
    }
  }
  if (!(f.bus_bandwidth.value > 0.0)) {
    throw Error(fmt::format("{}: \"{}\" must be positive", e.location_of("bus_bandwidth"),
                            e.key_path("bus_bandwidth")));
  }
  f.rms_relative = e.number_in("rms_relative", 0.0, 1e6).value_or(0.0);
  f.points = static_cast<int>(e.integer_in("points", 0, 100000000).value_or(0));
  if (f.rms_relative < 0.0 || f.points < 0) {
    throw Error(fmt::format("{}: rms_relative and points must be zero or more", e.location()));
  }
  e.finish();
  return f;
}

// [collectives] link = "<catalog link>", then [collectives.<collective>.n<GPUs>] tables.
CollectiveTable read_collectives(TableReader& r, const toml::table& raw) {
  CollectiveTable out;
  out.link = r.required(r.string("link"), "link");
  for (const auto& [k, v] : raw) {
    const std::string name(k.str());
    if (name == "link") continue;
    const auto c = parse_collective(name);
    if (!c) {
      std::vector<std::string> valid = {"link"};
      for (Collective x : all_collectives()) valid.push_back(collective_name(x));
      throw Error(fmt::format("{}: unknown key \"{}\"; valid keys are: {}", r.location_of(name),
                              r.key_path(name), join(valid)));
    }
    auto by_gpus = r.table(name);
    for (const auto& [gk, gv] : *v.as_table()) {
      const std::string key(gk.str());
      const int gpus = gpus_of(key, *by_gpus);
      auto entry = by_gpus->table(key);
      if (*c == Collective::kSendRecv && gpus != 2) {
        throw Error(fmt::format("{}: send_recv is measured between two GPUs: use n2",
                                by_gpus->location_of(key)));
      }
      out.fits[CollectiveKey{*c, gpus}] = read_collective_fit(*entry);
    }
    by_gpus->finish();
  }
  r.finish();
  return out;
}

}  // namespace

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
    if (f.optional && !params->raw(f.key)) continue;  // keeps its default
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
  check_cost_params(c.params, path);
  if (auto res = r.table("residuals")) {
    for (const auto& [k, v] : *t["residuals"].as_table()) {
      const std::string key(k.str());
      auto entry = res->table(key);
      if (!entry) continue;
      FitResidual fr;
      fr.rms_relative = entry->required(entry->number_in("rms_relative", 0.0, 1e6), "rms_relative");
      fr.points = static_cast<int>(entry->required(entry->integer_in("points", 0, 100000000), "points"));
      entry->finish();
      c.residuals[key] = fr;
    }
    res->finish();
  }
  if (auto coll = r.table("collectives")) {
    c.collectives = read_collectives(*coll, *t["collectives"].as_table());
  }
  if (auto formats = r.table("gemm_formats")) {
    for (const auto& [k, v] : *t["gemm_formats"].as_table()) {
      const std::string key(k.str());
      int index = -1;
      std::vector<std::string> valid;
      for (int i = 1; i < kGemmFormats; ++i) {
        valid.push_back(gemm_format_name(static_cast<GemmFormat>(i)));
        if (key == valid.back()) index = i;
      }
      if (index < 0) {
        throw Error(fmt::format("{}: unknown GEMM format \"{}\"; valid formats are: {}",
                                formats->location_of(key), key, join(valid)));
      }
      auto e = formats->table(key);
      GemmFormatParams& g = c.params.formats[static_cast<std::size_t>(index)];
      g.given = true;
      g.gemm = e->required(e->number_in("gemm", 1e-6, 1.0), "gemm");
      g.m_half = e->required(e->number_in("gemm_m_half", 0.0, 1e7), "gemm_m_half");
      g.memory = e->required(e->number_in("gemm_memory", 1e-6, 1.0), "gemm_memory");
      g.latency = Seconds(e->required(e->quantity("gemm_latency", Dimension::kTime), "gemm_latency"));
      if (!(g.latency.value <= 1.0)) {
        throw Error(fmt::format("{}: \"{}\" is a per-kernel time and must be at most 1 s",
                                e->location_of("gemm_latency"), e->key_path("gemm_latency")));
      }
      const std::string source = e->string("source").value_or("measured");
      if (source != "measured" && source != "derived") {
        throw Error(fmt::format("{}: \"{}\" must be measured or derived", e->location_of("source"),
                                e->key_path("source")));
      }
      g.measured = source == "measured";
      g.points = static_cast<int>(e->integer_in("points", 0, 100000000).value_or(0));
      g.rms_relative = e->number_in("rms_relative", 0.0, 1e6).value_or(0.0);
      e->finish();
    }
    formats->finish();
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
    if (f.optional && f.get(c.params) == 0.0) continue;  // not measured
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
  bool any_format = false;
  for (int i = 1; i < kGemmFormats; ++i) {
    const GemmFormatParams& g = c.params.formats[static_cast<std::size_t>(i)];
    if (!g.given) continue;
    if (!any_format) {
      fmt::print(out, "\n# Quantized GEMM formats: the dense GEMM's four parameters for each format's\n"
                      "# own kernels, against its peak; `source` says whether they were fitted on\n"
                      "# this GPU or derived from another's fit (docs/calibration.md).\n");
      any_format = true;
    }
    fmt::print(out, "[gemm_formats.{}]\n", gemm_format_name(static_cast<GemmFormat>(i)));
    fmt::print(out, "gemm = {:.6g}\ngemm_m_half = {:.6g}\ngemm_memory = {:.6g}\n", g.gemm, g.m_half,
               g.memory);
    fmt::print(out, "gemm_latency = \"{:.4g} us\"\n", to_us(g.latency));
    fmt::print(out, "source = \"{}\"\npoints = {}\nrms_relative = {:.4f}\n",
               g.measured ? "measured" : "derived", g.points, g.rms_relative);
  }
  if (!c.collectives.empty()) {
    fmt::print(out, "\n# One collective of S bytes over n GPUs: latency (graph replay) or latency_eager,\n"
                    "# plus factor * S / bus_bandwidth (docs/calibration.md, collectives stage).\n");
    fmt::print(out, "[collectives]\nlink = \"{}\"\n", c.collectives.link);
    for (const auto& [key, f] : c.collectives.fits) {
      fmt::print(out, "\n[collectives.{}.n{}]\n", collective_name(key.collective), key.gpus);
      fmt::print(out, "latency = \"{:.4g} us\"\n", to_us(f.latency));
      fmt::print(out, "latency_eager = \"{:.4g} us\"\n", to_us(f.latency_eager));
      fmt::print(out, "bus_bandwidth = \"{:.5g} GB/s\"\n", f.bus_bandwidth.value / 1e9);
      fmt::print(out, "rms_relative = {:.4f}\npoints = {}\n", f.rms_relative, f.points);
    }
  }
  if (!out) throw Error(fmt::format("cannot write calibration file {}", path));
}

std::string gemm_calibration_words(const CostParams& p, GemmFormat f, const std::string& gpu) {
  if (f == GemmFormat::kDense) return "the dense GEMM fit";
  const GemmFormatParams& g = p.formats[static_cast<std::size_t>(f)];
  if (!g.given) {
    return fmt::format("not calibrated on {}: derived, the dense GEMM's fitted fractions applied "
                       "at the {} peak and bytes",
                       gpu, gemm_format_label(f, DType::kBF16));
  }
  if (!g.measured) return fmt::format("derived for {} from another GPU's measured {} kernels", gpu, gemm_format_name(f));
  return fmt::format("measured on {} ({} points, RMS error {:.1f}%)", gpu, g.points,
                     100.0 * g.rms_relative);
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
  choice.collectives = c.collectives;
  auto get = [&](const char* k) {
    auto it = c.provenance.find(k);
    return it == c.provenance.end() ? std::string("?") : it->second;
  };
  const std::string shown = setting.empty() || setting == "auto"
                               ? "calibration/results/" + gpu.name + ".toml"
                               : path;
  choice.source = c.provenance.count("derived_from") ? "derived" : "measured";
  if (c.provenance.count("derived_from")) {
    choice.description = fmt::format("{} (derived from {}, not measured on this GPU)", shown,
                                     get("derived_from"));
  } else {
    choice.description = fmt::format("{} (fitted on {}, driver {}, {})", shown, get("gpu"),
                                     get("driver"), get("date"));
  }
  if (!c.collectives.empty()) {
    std::set<int> counts;
    for (const auto& [key, f] : c.collectives.fits) counts.insert(key.gpus);
    std::vector<std::string> n;
    for (int g : counts) n.push_back(std::to_string(g));
    choice.description += fmt::format("; collectives measured on {} at {} GPUs",
                                      c.collectives.link, join(n, "/"));
  }
  return choice;
}

}  // namespace servesim
