#include "hardware/device_spec.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/toml_reader.hpp"

namespace servesim {

const std::vector<CostParamField>& cost_param_fields() {
  using R = CostParamField::Range;
  static const std::vector<CostParamField> fields = {
      {"gemm", R::kFraction, &CostParams::gemm},
      {"gemm_m_half", R::kPositive, &CostParams::gemm_m_half},
      {"attention_prefill", R::kFraction, &CostParams::attention_prefill},
      {"attention_decode", R::kFraction, &CostParams::attention_decode},
      {"attention_decode_waves", R::kFraction, &CostParams::attention_decode_waves},
      {"memory", R::kFraction, &CostParams::memory},
      {"knee", R::kExponent, &CostParams::knee},
      {"gemm_memory", R::kFraction, &CostParams::gemm_memory},
      {"attention_spread", R::kNonNegative, &CostParams::attention_spread},
      {"attention_keys_half", R::kNonNegative, &CostParams::attention_keys_half},
      {"kernel", R::kTime, nullptr, &CostParams::kernel},
      {"gemm_latency", R::kTime, nullptr, &CostParams::gemm_latency},
      {"attention_latency", R::kTime, nullptr, &CostParams::attention_latency},
      {"attention_decode_latency", R::kTime, nullptr, &CostParams::attention_decode_latency},
      {"attention_decode_block", R::kTime, nullptr, &CostParams::attention_decode_block},
      {"launch", R::kTime, nullptr, &CostParams::launch},
      {"framework_launch", R::kTime, nullptr, &CostParams::framework_launch, true},
      {"graph_node", R::kSignedTime, nullptr, &CostParams::graph_node},
      {"step_graphs", R::kTime, nullptr, &CostParams::step_graphs},
      {"step_eager", R::kTime, nullptr, &CostParams::step_eager},
  };
  return fields;
}

const CostParamField& cost_param_field(std::string_view key) {
  for (const CostParamField& f : cost_param_fields()) {
    if (key == f.key) return f;
  }
  throw std::out_of_range("no cost parameter " + std::string(key));
}

bool CostParamField::valid(double v) const {
  switch (range) {
    case Range::kFraction: return v > 0.0 && v <= 1.0;
    case Range::kPositive: return v > 0.0 && v <= 1e7;
    case Range::kNonNegative: return v >= 0.0 && v <= 1e7;
    case Range::kExponent: return v >= 1.0 && v <= 64.0;
    case Range::kTime: return v >= 0.0 && v <= 1.0;
    case Range::kSignedTime: return v >= -1.0 && v <= 1.0;
  }
  return false;
}

const char* CostParamField::range_text() const {
  switch (range) {
    case Range::kFraction: return "a fraction in (0, 1]";
    case Range::kPositive: return "positive, at most 1e7";
    case Range::kNonNegative: return "from 0 to 1e7";
    case Range::kExponent: return "from 1 to 64";
    case Range::kTime: return "a time from 0 to 1 s";
    case Range::kSignedTime: return "a time from -1 s to 1 s";
  }
  return "";
}

void check_cost_params(const CostParams& p, const std::string& where) {
  if (p.graph_node.value < -p.kernel.value) {
    throw Error(fmt::format(
        "{}: graph_node = {:.4g} us would save more per kernel under CUDA-graph replay than a "
        "kernel's whole fixed GPU time (kernel = {:.4g} us), so steps would take less than "
        "nothing; it must be at least -kernel",
        where, to_us(p.graph_node), to_us(p.kernel)));
  }
}

GemmFormatParams CostParams::gemm_for(GemmFormat f) const {
  const GemmFormatParams& own = formats[static_cast<std::size_t>(f)];
  if (f != GemmFormat::kDense && own.given) return own;
  GemmFormatParams dense;
  dense.given = false;
  dense.gemm = gemm;
  dense.m_half = gemm_m_half;
  dense.memory = gemm_memory;
  dense.latency = gemm_latency;
  return dense;
}

FlopsPerSecond DeviceSpec::peak_for(GemmFormat f, DType compute) const {
  if (f == GemmFormat::kFp8) return peak_for(DType::kFP8);
  if (f == GemmFormat::kInt8) return peak_for(DType::kINT8);
  return peak_for(compute);
}

FlopsPerSecond DeviceSpec::peak_for(DType d) const {
  auto it = peak.find(d);
  if (it != peak.end()) return it->second;
  std::vector<std::string> have;
  for (const auto& [k, v] : peak) have.push_back(dtype_name(k));
  throw Error(fmt::format("GPU {} has no {} peak rate in {}; it supports: {}", name,
                          dtype_name(d), source, join(have)));
}

namespace {

double fraction(TableReader& r, const std::string& key) {
  const double v = r.required(r.number(key), key);
  if (!(v > 0.0 && v <= 1.0)) {
    throw Error(fmt::format("{}: \"{}\" is a fraction of peak and must be in (0, 1], got {}",
                            r.location_of(key), r.key_path(key), v));
  }
  return v;
}

// A plain cost parameter of the GPU file's [efficiency], in the range its field allows.
double param(TableReader& r, const std::string& key) {
  const CostParamField& f = cost_param_field(key);
  const double v = r.required(r.number(key), key);
  if (!f.valid(v)) {
    throw Error(fmt::format("{}: \"{}\" must be {}, got {}", r.location_of(key), r.key_path(key),
                            f.range_text(), v));
  }
  return v;
}

// A time of [overhead] (per kernel or per step): from 0 to 1 s, or -1 s to 1 s when signed.
Seconds time_of(TableReader& r, const std::string& key, bool is_signed = false) {
  const double v = r.required(r.quantity(key, Dimension::kTime, is_signed), key);
  if (!(v >= (is_signed ? -1.0 : 0.0) && v <= 1.0)) {
    throw Error(fmt::format("{}: \"{}\" is a per-kernel or per-step time and must be from {} to 1 s",
                            r.location_of(key), r.key_path(key), is_signed ? "-1 s" : "0"));
  }
  return Seconds(v);
}

// A link's time (a latency or a setup): from 0 to 1 s.
Seconds link_time(TableReader& r, const std::string& key) { return time_of(r, key); }

}  // namespace

DeviceSpec load_device_file(const std::string& path, const std::string& name) {
  const toml::table t = parse_toml_file(path);
  TableReader r(t, path, "");
  DeviceSpec d;
  d.name = name;
  d.source = path;
  d.description = r.required(r.string("description"), "description");
  d.family = r.required(r.string("family"), "family");
  d.compute_capability = r.required(r.string("compute_capability"), "compute_capability");
  d.memory = Bytes(r.required(r.quantity("memory", Dimension::kBytes), "memory"));
  d.memory_bandwidth = BytesPerSecond(
      r.required(r.quantity("memory_bandwidth", Dimension::kBandwidth), "memory_bandwidth"));
  d.l2_cache = Bytes(r.required(r.quantity("l2_cache", Dimension::kBytes), "l2_cache"));
  d.sm_count = static_cast<int>(r.required(r.integer_in("sm_count", 1, 100000), "sm_count"));
  d.tdp_watts = r.required(r.quantity("tdp", Dimension::kPower), "tdp");
  for (const auto& [key, v] : {std::pair<const char*, double>{"memory", d.memory.value},
                               {"tdp", d.tdp_watts}}) {
    if (!(v > 0)) throw Error(fmt::format("{}: \"{}\" must be positive", r.location_of(key), key));
  }
  d.interconnect = r.required(r.string("interconnect"), "interconnect");
  d.host_link = r.required(r.string("host_link"), "host_link");
  if (auto n = r.integer("gpus_per_node")) {
    if (*n < 1 || *n > 1024) {
      throw Error(fmt::format("{}: \"gpus_per_node\" must be from 1 to 1024, got {}",
                              r.location_of("gpus_per_node"), *n));
    }
    d.gpus_per_node = static_cast<int>(*n);
  }

  auto peak = r.table("peak");
  if (!peak) throw Error(fmt::format("{}: missing required table [peak]", path));
  // int8: tensor-core integer operations per second (TOPS), for W8A8-INT8 GEMMs.
  for (const char* key : {"bf16", "fp16", "fp8", "fp32", "int8"}) {
    if (auto v = peak->quantity(key, Dimension::kFlopRate)) {
      d.peak[parse_dtype(key, path)] = FlopsPerSecond(*v);
    }
  }
  peak->finish();

  auto eff = r.table("efficiency");
  if (!eff) throw Error(fmt::format("{}: missing required table [efficiency]", path));
  CostParams& p = d.defaults;
  p.gemm = fraction(*eff, "gemm");
  p.gemm_m_half = param(*eff, "gemm_m_half");
  p.attention_prefill = fraction(*eff, "attention_prefill");
  p.attention_decode = fraction(*eff, "attention_decode");
  p.memory = fraction(*eff, "memory");
  p.knee = param(*eff, "knee");
  // Optional refinements; without them GEMMs stream at `memory` and contexts' spread is free.
  p.gemm_memory = eff->number("gemm_memory") ? fraction(*eff, "gemm_memory") : p.memory;
  p.attention_spread = eff->number("attention_spread") ? param(*eff, "attention_spread") : 0.0;
  p.attention_decode_waves = eff->number("attention_decode_waves")
                                 ? fraction(*eff, "attention_decode_waves")
                                 : p.attention_decode;
  p.attention_keys_half = eff->number("attention_keys_half") ? param(*eff, "attention_keys_half") : 0.0;
  eff->finish();

  auto ovh = r.table("overhead");
  if (!ovh) throw Error(fmt::format("{}: missing required table [overhead]", path));
  p.kernel = time_of(*ovh, "kernel");
  p.gemm_latency = ovh->raw("gemm_latency") ? time_of(*ovh, "gemm_latency") : p.kernel;
  p.attention_latency = ovh->raw("attention_latency") ? time_of(*ovh, "attention_latency") : p.kernel;
  p.attention_decode_latency = ovh->raw("attention_decode_latency")
                                   ? time_of(*ovh, "attention_decode_latency")
                                   : p.attention_latency;
  p.attention_decode_block =
      ovh->raw("attention_decode_block") ? time_of(*ovh, "attention_decode_block") : Seconds(0.0);
  p.launch = time_of(*ovh, "launch");
  p.graph_node = time_of(*ovh, "graph_node", true);
  p.step_graphs = time_of(*ovh, "step_graphs");
  p.step_eager = time_of(*ovh, "step_eager");
  ovh->finish();
  r.finish();
  check_cost_params(p, path);
  return d;
}

LinkSpec load_link_file(const std::string& path, const std::string& name) {
  const toml::table t = parse_toml_file(path);
  TableReader r(t, path, "");
  LinkSpec l;
  l.name = name;
  l.source = path;
  l.description = r.required(r.string("description"), "description");
  l.bandwidth =
      BytesPerSecond(r.required(r.quantity("bandwidth", Dimension::kBandwidth), "bandwidth"));
  l.bus_efficiency = fraction(r, "bus_efficiency");
  l.latency = link_time(r, "latency");
  l.latency_eager = link_time(r, "latency_eager");
  // Files written before transfers were modelled: transfers at the collectives' efficiency,
  // with no latency or setup of their own.
  l.transfer_efficiency = r.raw("transfer_efficiency") ? fraction(r, "transfer_efficiency")
                                                       : l.bus_efficiency;
  if (r.raw("transfer_latency")) l.transfer_latency = link_time(r, "transfer_latency");
  if (r.raw("transfer_setup")) l.transfer_setup = link_time(r, "transfer_setup");
  if (r.raw("oneshot_latency")) l.oneshot_latency = link_time(r, "oneshot_latency");
  l.oneshot_latency_eager = r.raw("oneshot_latency_eager") ? link_time(r, "oneshot_latency_eager")
                                                           : l.oneshot_latency;
  r.finish();
  return l;
}

}  // namespace servesim
