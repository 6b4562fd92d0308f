#include "sim/config/scenario.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/toml_reader.hpp"

namespace servesim {

std::string arrival_name(ArrivalKind k) {
  switch (k) {
    case ArrivalKind::kPoisson: return "poisson";
    case ArrivalKind::kGamma: return "gamma";
    case ArrivalKind::kConstant: return "constant";
    case ArrivalKind::kTrace: return "trace";
    case ArrivalKind::kClosedLoop: return "closed-loop";
  }
  return "?";
}

std::string role_name(PoolRole r) {
  switch (r) {
    case PoolRole::kColocated: return "colocated";
    case PoolRole::kPrefill: return "prefill";
    case PoolRole::kDecode: return "decode";
  }
  return "?";
}

std::string transfer_mode_name(TransferMode m) {
  return m == TransferMode::kLayerwise ? "layerwise" : "after_prefill";
}

std::string handoff_policy_name(HandoffPolicy p) {
  switch (p) {
    case HandoffPolicy::kAlways: return "always";
    case HandoffPolicy::kConditional: return "conditional";
    case HandoffPolicy::kTransferOrRecompute: return "transfer-or-recompute";
  }
  return "?";
}

bool Scenario::disaggregated() const {
  for (const PoolConfig& p : cluster.pools) {
    if (p.role != PoolRole::kColocated) return true;
  }
  return false;
}

int Scenario::gpus() const {
  int n = 0;
  for (const PoolConfig& p : cluster.pools) n += p.gpus();
  return n;
}

std::string describe(const LengthDist& d) {
  switch (d.kind) {
    case LengthDist::Kind::kFixed: return fmt::format("fixed {}", d.value);
    case LengthDist::Kind::kUniform: return fmt::format("uniform {}..{}", d.min, d.max);
    case LengthDist::Kind::kNormal:
      return fmt::format("normal mean {} sd {} in [{}, {}]", d.mean, d.stddev, d.min, d.max);
    case LengthDist::Kind::kLognormal:
      return fmt::format("lognormal mean {} sd {} in [{}, {}]", d.mean, d.stddev, d.min, d.max);
  }
  return "?";
}

void check_workload(const WorkloadConfig& w, const std::string& where) {
  const bool needs_rate = w.arrival == ArrivalKind::kPoisson || w.arrival == ArrivalKind::kGamma ||
                          w.arrival == ArrivalKind::kConstant;
  // Simulated time is integer nanoseconds (up to ~292 years); keep runs well inside it.
  if (needs_rate && static_cast<double>(w.requests) / w.rate > 1e9) {
    throw Error(fmt::format("{}: {} requests at {} requests/s span {:.3g} s; keep "
                            "workload.requests / workload.rate under 1e9 s",
                            where, w.requests, w.rate, static_cast<double>(w.requests) / w.rate));
  }
}

namespace {

void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(fmt::format("--set \"{}\": expected key.path=value, for example "
                            "--set workload.rate=20",
                            assignment));
  }
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    parts.push_back(path.substr(start, dot - start));
  }
  parts.push_back(path.substr(start));
  toml::table* t = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* n = t->get(parts[i]);
    if (n == nullptr) {
      t->insert(parts[i], toml::table{});
      n = t->get(parts[i]);
    }
    if (toml::array* a = n->as_array(); a != nullptr && a->is_array_of_tables() &&
                                        i + 2 < parts.size()) {
      // An entry of an array of tables, by position or by its name: cluster.pool.1.tp=2 or
      // cluster.pool.decode.tp=2.
      const std::string& which = parts[++i];
      toml::table* entry = nullptr;
      std::vector<std::string> names;
      for (std::size_t k = 0; k < a->size(); ++k) {
        toml::table* e = (*a)[k].as_table();
        const auto name = e->get_as<std::string>("name");
        names.push_back(name ? name->get() : std::to_string(k));
        if (which == std::to_string(k) || (name && name->get() == which)) entry = e;
      }
      if (entry == nullptr) {
        throw Error(fmt::format("--set \"{}\": {} has no entry \"{}\"; give its position (0 to "
                                "{}) or its name ({})",
                                assignment, parts[i - 1], which, a->size() - 1, join(names)));
      }
      t = entry;
      continue;
    }
    if (!n->is_table()) {
      throw Error(fmt::format("--set \"{}\": \"{}\" is not a table", assignment, parts[i]));
    }
    t = n->as_table();
  }
  // The value as TOML ("20", "true", "{ distribution = \"fixed\", value = 3 }"), else a string.
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    parsed.insert("v", text);
  }
  t->insert_or_assign(parts.back(), *parsed.get("v"));
}

// An integer in [lo, hi]; the message names the range.
std::int64_t int_in(TableReader& r, const std::string& key, std::int64_t fallback, std::int64_t lo,
                    std::int64_t hi) {
  const auto v = r.integer(key);
  if (!v) return fallback;
  if (*v < lo || *v > hi) {
    throw Error(fmt::format("{}: \"{}\" must be an integer from {} to {}, got {}",
                            r.location_of(key), r.key_path(key), lo, hi, *v));
  }
  return *v;
}

// A number in [lo, hi] (or (lo, hi] when lo_open).
double number_in(TableReader& r, const std::string& key, double fallback, double lo, double hi,
                 bool lo_open) {
  const auto v = r.number(key);
  if (!v) return fallback;
  if (!std::isfinite(*v) || *v > hi || *v < lo || (lo_open && *v == lo)) {
    throw Error(fmt::format("{}: \"{}\" must be {} {} and at most {}, got {}", r.location_of(key),
                            r.key_path(key), lo_open ? "above" : "at least", lo, hi, *v));
  }
  return *v;
}

double positive_number(TableReader& r, const std::string& key, double fallback) {
  const auto v = r.number(key);
  if (!v) return fallback;
  if (!(*v > 0.0) || !std::isfinite(*v)) {
    throw Error(fmt::format("{}: \"{}\" must be a positive number, got {}", r.location_of(key),
                            r.key_path(key), *v));
  }
  return *v;
}

// What a distribution's values may be: tokens (whole, from 1) or seconds (from 0).
struct DistBounds {
  double lo, hi;
  const char* unit;   // "tokens", "seconds"
  bool whole;         // a plain value must be an integer
};
constexpr DistBounds kTokens{1, 1e7, "tokens", true};
constexpr DistBounds kThinkSeconds{0, 1e5, "seconds", false};

LengthDist read_distribution(TableReader& parent, const std::string& key, double fallback, const DistBounds& b) {
  LengthDist d;
  d.value = fallback;
  d.min = b.lo;
  d.max = b.hi;
  const toml::node* n = parent.raw(key);
  if (n == nullptr) return d;
  if (n->is_integer() || (!b.whole && n->is_floating_point())) {
    d.value = n->is_integer() ? static_cast<double>(*n->value<std::int64_t>()) : *n->value<double>();
    if (!(d.value >= b.lo && d.value <= b.hi)) {
      throw Error(fmt::format("{}: \"{}\" must be from {} to {} {}, got {}", parent.location_of(key),
                              parent.key_path(key), b.lo, b.hi, b.unit, d.value));
    }
    d.min = d.max = d.value;
    return d;
  }
  if (!n->is_table()) {
    throw Error(fmt::format("{}: \"{}\" must be {} or a table such as "
                            "{{ distribution = \"lognormal\", mean = 1000, stddev = 500, "
                            "min = 1, max = 8000 }}",
                            parent.location_of(key), parent.key_path(key),
                            b.whole ? "a token count" : "a number of seconds"));
  }
  TableReader r = *parent.table(key);
  const std::string dist = r.required(r.string("distribution"), "distribution");
  const std::string where = r.location();
  auto need = [&](const char* k) {
    auto v = r.number(k);
    if (!v) {
      throw Error(fmt::format("{}: a \"{}\" distribution needs \"{}\"", where, dist, k));
    }
    if (!std::isfinite(*v)) throw Error(fmt::format("{}: \"{}\" must be a finite number, got {}", where, k, *v));
    return *v;
  };
  d.min = r.number("min").value_or(b.lo);
  d.max = r.number("max").value_or(b.hi);
  if (dist == "fixed") {
    d.kind = LengthDist::Kind::kFixed;
    d.value = need("value");
  } else if (dist == "uniform") {
    d.kind = LengthDist::Kind::kUniform;
    d.min = need("min");
    d.max = need("max");
  } else if (dist == "normal" || dist == "lognormal") {
    d.kind = dist == "normal" ? LengthDist::Kind::kNormal : LengthDist::Kind::kLognormal;
    d.mean = need("mean");
    d.stddev = need("stddev");
    if (d.mean <= 0 || d.stddev < 0) {
      throw Error(fmt::format("{}: mean must be positive and stddev not negative", where));
    }
  } else {
    throw Error(fmt::format("{}: unknown distribution \"{}\"; valid values are: fixed, uniform, "
                            "normal, lognormal",
                            r.location_of("distribution"), dist));
  }
  // Ask for every key the table may hold, so finish() lists them all.
  r.number("value");
  r.number("mean");
  r.number("stddev");
  r.finish();
  if (!(d.min >= b.lo && d.max >= d.min && d.max <= b.hi)) {
    throw Error(fmt::format("{}: need {} <= min <= max <= {} {}, got min {} max {}", where, b.lo, b.hi,
                            b.unit, d.min, d.max));
  }
  if (d.kind == LengthDist::Kind::kFixed && !(d.value >= d.min && d.value <= d.max)) {
    throw Error(fmt::format("{}: the fixed value {} must lie in [min, max] = [{}, {}]", where,
                            d.value, d.min, d.max));
  }
  return d;
}

LengthDist read_length(TableReader& parent, const std::string& key, double fallback) {
  return read_distribution(parent, key, fallback, kTokens);
}

// The keys of an [engine] table, over the settings in `e` (the defaults, or for a pool the
// scenario's [engine]).
void read_engine(TableReader& t, EngineConfig& e) {
  e.scheduler = t.string("scheduler").value_or(e.scheduler);
  e.max_num_seqs = int_in(t, "max_num_seqs", e.max_num_seqs, 1, 1000000);
  e.max_num_batched_tokens = int_in(t, "max_num_batched_tokens", e.max_num_batched_tokens, 1, 10000000);
  e.max_model_len = int_in(t, "max_model_len", e.max_model_len, 1, 1LL << 30);
  e.block_size = static_cast<int>(int_in(t, "block_size", e.block_size, 1, 1024));
  e.kv_cache_dtype = t.string("kv_cache_dtype").value_or(e.kv_cache_dtype);
  e.gpu_memory_utilization = positive_number(t, "gpu_memory_utilization", e.gpu_memory_utilization);
  if (e.gpu_memory_utilization > 1.0) {
    throw Error(fmt::format("{}: {} is a fraction in (0, 1], got {}",
                            t.location_of("gpu_memory_utilization"),
                            t.key_path("gpu_memory_utilization"), e.gpu_memory_utilization));
  }
  e.cuda_graphs = t.boolean("cuda_graphs").value_or(e.cuda_graphs);
  e.framework_launch = t.boolean("framework_launch").value_or(e.framework_launch);
  if (t.integer("num_gpu_blocks")) {
    e.num_gpu_blocks = int_in(t, "num_gpu_blocks", 1, 1, 10'000'000'000);
  }
  e.chunk_size = int_in(t, "chunk_size", e.chunk_size, 1, 10000000);
  e.batch_timeout_ms = number_in(t, "batch_timeout_ms", e.batch_timeout_ms, 0.0, 86'400'000.0, false);
  e.cpu_overhead_ms = number_in(t, "cpu_overhead_ms", e.cpu_overhead_ms, 0.0, 60'000.0, false);
  const std::string preemption = t.string("preemption").value_or(e.swap_preemption ? "swap" : "recompute");
  if (preemption != "recompute" && preemption != "swap") {
    throw Error(fmt::format("{}: {} \"{}\": valid values are: recompute, swap",
                            t.location_of("preemption"), t.key_path("preemption"), preemption));
  }
  e.swap_preemption = preemption == "swap";
  e.prefix_caching = t.boolean("prefix_caching").value_or(e.prefix_caching);
  // At least 1 us: a shorter window rounds to no time between ticks.
  e.stagger_window_ms = number_in(t, "stagger_window_ms", e.stagger_window_ms, 0.001, 60'000.0, false);
  e.swap_space_gib = number_in(t, "swap_space_gib", e.swap_space_gib, 0.0, 1e6, false);
  e.step_time_scale = number_in(t, "step_time_scale", e.step_time_scale, 0.0, 100.0, true);
  e.seq_overhead_us = number_in(t, "seq_overhead_us", e.seq_overhead_us, 0.0, 1e6, false);
  if (t.number("framework_launch_us")) {
    e.framework_launch_us = number_in(t, "framework_launch_us", 0.0, 0.0, 1e6, false);
  }
  e.first_token_overhead_ms =
      number_in(t, "first_token_overhead_ms", e.first_token_overhead_ms, 0.0, 600'000.0, false);
  e.token_overhead_ms = number_in(t, "token_overhead_ms", e.token_overhead_ms, 0.0, 60'000.0, false);
  e.tokenize_us_per_token =
      number_in(t, "tokenize_us_per_token", e.tokenize_us_per_token, 0.0, 1e6, false);
}

// A name that reads well in keys, files and messages.
bool plain_name(const std::string& n) {
  // A letter first, so that a name is never taken for a position (cluster.pool.1.tp).
  if (n.empty() || n.size() > 64 || !std::isalpha(static_cast<unsigned char>(n[0]))) return false;
  for (char ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') return false;
  }
  return true;
}

// One [[cluster.pool]] entry, its [cluster.pool.engine] over the scenario's [engine].
void read_layout(TableReader& t, PoolConfig& p);

PoolConfig read_pool(TableReader& t, const EngineConfig& engine) {
  PoolConfig p;
  p.name = t.required(t.string("name"), "name");
  if (!plain_name(p.name)) {
    throw Error(fmt::format("{}: pool name \"{}\" must be 1 to 64 letters, digits, '-' or '_', "
                            "starting with a letter",
                            t.location_of("name"), p.name));
  }
  const std::string role = t.string("role").value_or("colocated");
  if (role == "colocated") {
    p.role = PoolRole::kColocated;
  } else if (role == "prefill") {
    p.role = PoolRole::kPrefill;
  } else if (role == "decode") {
    p.role = PoolRole::kDecode;
  } else {
    throw Error(fmt::format("{}: {} \"{}\": valid values are: colocated, prefill, decode",
                            t.location_of("role"), t.key_path("role"), role));
  }
  p.replicas = static_cast<int>(int_in(t, "replicas", 1, 1, 100000));
  read_layout(t, p);
  p.gpu = t.string("gpu").value_or("");
  p.engine = engine;
  if (auto e = t.table("engine")) {
    read_engine(*e, p.engine);
    for (const char* key : {"first_token_overhead_ms", "token_overhead_ms", "tokenize_us_per_token"}) {
      if (e->number(key)) {
        throw Error(fmt::format("{}: {} belongs to the frontend in front of every pool: set it in "
                                "[engine]",
                                e->location_of(key), e->key_path(key)));
      }
    }
    e->finish();
  }
  t.finish();
  return p;
}

// A pool's layout keys, in [[cluster.pool]] or (for the one pool) [cluster].
void read_layout(TableReader& t, PoolConfig& p) {
  p.tp = static_cast<int>(int_in(t, "tp", 1, 1, 1024));
  p.cross_node_tp = t.boolean("cross_node_tp").value_or(false);
  p.pp = static_cast<int>(int_in(t, "pp", 1, 1, 256));
  if (const toml::node* split = t.raw("layer_split")) {
    const toml::array* a = split->as_array();
    bool ok = a != nullptr && !a->empty();
    if (ok) {
      for (const auto& v : *a) {
        const auto n = v.value<std::int64_t>();
        if (!v.is_integer() || !n || *n < 1 || *n > 100000) {
          ok = false;
          break;
        }
        p.layer_split.push_back(static_cast<int>(*n));
      }
    }
    if (!ok) {
      throw Error(fmt::format("{}: {} must be a list of positive layer counts, one per pipeline "
                              "stage (e.g. [40, 40])",
                              t.location_of("layer_split"), t.key_path("layer_split")));
    }
  }
  p.moe_keys_given = t.raw("ep") || t.raw("dp_attention") || t.raw("moe_comm") ||
                     t.raw("expert_skew");
  p.ep = static_cast<int>(int_in(t, "ep", 1, 1, 1024));
  p.dp_attention = t.boolean("dp_attention").value_or(false);
  p.moe_comm = t.string("moe_comm").value_or("all-to-all");
  if (p.moe_comm != "all-to-all" && p.moe_comm != "allgather-reducescatter") {
    throw Error(fmt::format("{}: {} \"{}\": valid values are: all-to-all, "
                            "allgather-reducescatter",
                            t.location_of("moe_comm"), t.key_path("moe_comm"), p.moe_comm));
  }
  p.expert_skew = number_in(t, "expert_skew", 0.0, 0.0, 10.0, false);
  p.layout_where = t.location();
}

// What the pools must satisfy together.
void check_pools(const std::vector<PoolConfig>& pools, const std::string& where) {
  int prefill = 0;
  int decode = 0;
  for (std::size_t i = 0; i < pools.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (pools[i].name == pools[j].name) {
        throw Error(fmt::format("{}: two pools are named \"{}\"; pool names must differ", where,
                                pools[i].name));
      }
    }
    const PoolConfig& p = pools[i];
    prefill += p.role == PoolRole::kPrefill ? 1 : 0;
    decode += p.role == PoolRole::kDecode ? 1 : 0;
    if (p.role != PoolRole::kColocated &&
        (p.engine.scheduler == "static" || p.engine.scheduler == "staggered")) {
      throw Error(fmt::format(
          "{}: pool \"{}\" ({}) runs the {} scheduler, which servesim cannot model in a "
          "disaggregated pool: {}; use continuous, mixed or chunked",
          where, p.name, role_name(p.role), p.engine.scheduler,
          p.engine.scheduler == "static"
              ? "request-level batches decode to their end where they were prefilled"
              : "its staggered dispatch feeds colocated replicas from the frontend"));
    }
  }
  if ((prefill > 0) != (decode > 0)) {
    throw Error(fmt::format("{}: a disaggregated cluster needs both a pool with role = "
                            "\"prefill\" and one with role = \"decode\" (it has {} prefill and "
                            "{} decode pools)",
                            where, prefill, decode));
  }
  int entry_staggered = 0;
  int entry = 0;
  for (const PoolConfig& p : pools) {
    if (p.role == PoolRole::kDecode) continue;
    ++entry;
    entry_staggered += p.engine.scheduler == "staggered" ? 1 : 0;
  }
  if (entry_staggered > 0 && entry > 1) {
    throw Error(fmt::format("{}: the staggered scheduler dispatches from one global buffer to "
                            "the replicas of one pool; this cluster has {} pools taking new "
                            "requests",
                            where, entry));
  }
}

TopologyConfig read_topology(TableReader& t) {
  TopologyConfig c;
  c.given = true;
  c.gpus_per_node = static_cast<int>(int_in(t, "gpus_per_node", 8, 1, 1024));
  c.intra_node = t.string("intra_node").value_or("");
  c.nic = t.string("nic").value_or("ib-ndr");
  c.nics_per_node = static_cast<int>(int_in(t, "nics_per_node", c.gpus_per_node, 1, 1024));
  if (c.nics_per_node > c.gpus_per_node) {
    throw Error(fmt::format("{}: topology.nics_per_node = {} exceeds gpus_per_node = {}; servesim "
                            "models at most one NIC per GPU",
                            t.location_of("nics_per_node"), c.nics_per_node, c.gpus_per_node));
  }
  c.oversubscription = number_in(t, "oversubscription", 1.0, 1.0, 1000.0, false);
  c.nodes_per_leaf = static_cast<int>(int_in(t, "nodes_per_leaf", 4, 1, 100000));
  return c;
}

DisaggregationConfig read_disaggregation(TableReader& t) {
  DisaggregationConfig d;
  const std::string transfer = t.string("transfer").value_or("after_prefill");
  if (transfer == "after_prefill") {
    d.transfer = TransferMode::kAfterPrefill;
  } else if (transfer == "layerwise") {
    d.transfer = TransferMode::kLayerwise;
  } else {
    throw Error(fmt::format("{}: disaggregation.transfer \"{}\": valid values are: "
                            "after_prefill, layerwise",
                            t.location_of("transfer"), transfer));
  }
  d.decode_router = t.string("decode_router").value_or("least-kv");
  const std::string policy = t.string("policy").value_or("always");
  if (policy == "always") {
    d.policy = HandoffPolicy::kAlways;
  } else if (policy == "conditional") {
    d.policy = HandoffPolicy::kConditional;
  } else if (policy == "transfer-or-recompute") {
    d.policy = HandoffPolicy::kTransferOrRecompute;
  } else {
    throw Error(fmt::format("{}: disaggregation.policy \"{}\": valid values are: always, "
                            "conditional, transfer-or-recompute",
                            t.location_of("policy"), policy));
  }
  d.max_local_prefill_tokens = int_in(t, "max_local_prefill_tokens", 1000, 0, 10000000);
  d.max_prefill_queue = int_in(t, "max_prefill_queue", 2, 1, 100000000);
  for (const char* key : {"max_local_prefill_tokens", "max_prefill_queue"}) {
    if (t.raw(key) && d.policy != HandoffPolicy::kConditional) {
      throw Error(fmt::format("{}: disaggregation.{} sets the conditional policy's rule, but the "
                              "policy is \"{}\"; add policy = \"conditional\" or leave it out",
                              t.location_of(key), key, handoff_policy_name(d.policy)));
    }
  }
  return d;
}

template <class F>
void section(TableReader& root, const char* name, F&& read) {
  auto t = root.table(name);
  if (!t) {
    toml::table empty;
    TableReader r(empty, root.file(), name);
    read(r);
    return;
  }
  read(*t);
  t->finish();
}

}  // namespace

namespace {

// An engine profile's [engine] table, checked: nothing else may be in the file.
toml::table profile_engine(const std::string& path) {
  const toml::table root = parse_toml_file(path);
  for (const auto& [key, node] : root) {
    if (key.str() != "engine" || !node.is_table()) {
      throw Error(fmt::format("{}: an engine profile holds one [engine] table of engine keys; "
                              "\"{}\" is not one (servesim fit writes profiles)",
                              path, key.str()));
    }
  }
  const toml::table* e = root["engine"].as_table();
  if (e == nullptr) throw Error(fmt::format("{}: an engine profile needs an [engine] table", path));
  if (e->contains("profile")) throw Error(fmt::format("{}: a profile cannot name another profile", path));
  return *e;
}

// engine.profile = "NAME": NAME.toml in engine-profiles/ beside the scenario, above it, or in
// servesim's own folder; or a path to a .toml file, relative to the scenario.
std::string resolve_profile(const std::string& name, const std::string& scenario, const std::string& where) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(scenario).parent_path();
  std::vector<fs::path> tried;
  if (name.ends_with(".toml") || name.find('/') != std::string::npos) {
    fs::path p(name);
    tried.push_back(p.is_relative() ? dir / p : p);
  } else {
    for (const fs::path& base : {dir, dir / "..", fs::path(SERVESIM_SOURCE_DIR)}) {
      tried.push_back(base / "engine-profiles" / (name + ".toml"));
    }
  }
  for (const auto& p : tried) {
    if (fs::exists(p)) return p.string();
  }
  std::vector<std::string> names;
  for (const auto& p : tried) names.push_back(p.string());
  throw Error(fmt::format("{}: engine profile \"{}\" not found (looked for {})", where, name, join(names)));
}

}  // namespace

std::vector<std::string> profile_overrides(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& [key, node] : profile_engine(path)) {
    std::ostringstream value;
    node.visit([&](auto&& el) { value << el; });
    out.push_back(fmt::format("engine.{}={}", key.str(), value.str()));
  }
  return out;
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  toml::table root = parse_toml_file(path);
  // The keys the file's own [engine] sets: a profile it names may not set them too.
  std::string profile_file;
  std::vector<std::string> own;
  if (const toml::table* e = root["engine"].as_table()) {
    for (const auto& [key, node] : *e) own.push_back(std::string(key.str()));
  }
  for (const auto& o : overrides) apply_override(root, o);
  if (toml::table* e = root["engine"].as_table(); e && e->contains("profile")) {
    const auto name = (*e)["profile"].value<std::string>();
    const std::string where = fmt::format("{}: engine.profile", path);
    if (!name) throw Error(fmt::format("{}: must be a profile name or a path to a .toml file", where));
    const std::string file = resolve_profile(*name, path, where);
    for (const auto& [key, node] : profile_engine(file)) {
      const std::string k(key.str());
      if (std::find(own.begin(), own.end(), k) != own.end() && k != "profile") {
        throw Error(fmt::format("{}: engine.{} is set both here and in the profile {} it names; "
                                "keep one",
                                path, k, file));
      }
      if (!e->contains(k)) e->insert(k, node);  // an override (--set, --profile) wins
    }
    e->erase("profile");
    profile_file = *name;  // as written: output bytes do not depend on where servesim lives
  }

  Scenario s;
  s.file = path;
  TableReader r(root, path, "");
  s.name = r.string("name").value_or(std::filesystem::path(path).stem().string());
  const auto seed = r.integer("seed").value_or(0);
  if (seed < 0) throw Error(fmt::format("{}: \"seed\" must not be negative", r.location_of("seed")));
  s.seed = static_cast<std::uint64_t>(seed);

  section(r, "model", [&](TableReader& t) {
    const auto name = t.string("name");
    const auto config = t.string("config");
    if (name && config) {
      throw Error(fmt::format("{}: give [model] name or config, not both", t.location()));
    }
    if (!name && !config) {
      throw Error(fmt::format("{}: [model] needs name (a catalog model) or config (a path to a "
                              "config.json)",
                              t.location()));
    }
    if (config) {
      std::filesystem::path p(*config);
      if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
      s.model.name = p.string();
    } else {
      s.model.name = *name;
    }
    if (auto d = t.string("dtype")) s.model.dtype = parse_dtype(*d, t.location_of("dtype"));
    if (auto d = t.string("weight_dtype")) {
      s.model.weight_dtype = parse_dtype(*d, t.location_of("weight_dtype"));
    }
    if (auto d = t.string("activation_dtype")) {
      s.model.activation_dtype = parse_dtype(*d, t.location_of("activation_dtype"));
    }
    if (t.integer("group_size")) {
      s.model.group_size = static_cast<int>(int_in(t, "group_size", 128, 0, 65536));
    }
    s.model.allow_approximate = t.boolean("allow_approximate").value_or(false);
    s.model.where = t.location();
  });

  section(r, "hardware", [&](TableReader& t) {
    HardwareConfig& h = s.hardware;
    h.gpu = t.required(t.string("gpu"), "gpu");
    h.interconnect = t.string("interconnect").value_or("");
    if (auto c = t.string("calibration")) {
      std::filesystem::path p(*c);
      const bool is_path = *c != "auto" && *c != "none";
      // Like the trace and config paths: relative to the scenario file.
      h.calibration = is_path && p.is_relative()
                          ? (std::filesystem::path(path).parent_path() / p).string()
                          : *c;
    }
  });

  // [engine] first: pools start from it.
  section(r, "engine", [&](TableReader& t) { read_engine(t, s.engine); });
  s.engine.profile = profile_file;

  section(r, "cluster", [&](TableReader& t) {
    ClusterConfig& c = s.cluster;
    c.router = t.string("router").value_or("round-robin");
    c.response_cache_hit_rate = number_in(t, "response_cache_hit_rate", 0.0, 0.0, 1.0, false);
    c.response_cache_latency_ms =
        number_in(t, "response_cache_latency_ms", 5.0, 0.0, 60'000.0, false);
    std::vector<TableReader> pools = t.tables("pool");
    if (pools.empty()) {
      PoolConfig pool;
      pool.name = "default";
      pool.replicas = static_cast<int>(int_in(t, "replicas", 1, 1, 100000));
      read_layout(t, pool);
      pool.engine = s.engine;
      c.pools = {pool};
      return;
    }
    for (const char* key : {"replicas", "tp", "cross_node_tp", "pp", "layer_split", "ep",
                            "dp_attention", "moe_comm", "expert_skew"}) {
      if (t.raw(key)) {
        throw Error(fmt::format("{}: cluster.{} sizes the one pool of a cluster without "
                                "[[cluster.pool]] entries; with pools, give replicas and tp in "
                                "each [[cluster.pool]]",
                                t.location_of(key), key));
      }
    }
    for (TableReader& p : pools) c.pools.push_back(read_pool(p, s.engine));
    check_pools(c.pools, t.location_of("pool"));
  });

  if (auto t = r.table("topology")) {
    s.topology = read_topology(*t);
    t->finish();
  }

  if (auto t = r.table("disaggregation")) {
    if (!s.disaggregated()) {
      throw Error(fmt::format("{}: [disaggregation] needs prefill and decode pools: give "
                              "[[cluster.pool]] entries with role = \"prefill\" and "
                              "role = \"decode\"",
                              t->location()));
    }
    s.disaggregation = read_disaggregation(*t);
    t->finish();
  }

  section(r, "workload", [&](TableReader& t) {
    WorkloadConfig& w = s.workload;
    const std::string arrival = t.string("arrival").value_or("poisson");
    if (arrival == "poisson") {
      w.arrival = ArrivalKind::kPoisson;
    } else if (arrival == "gamma") {
      w.arrival = ArrivalKind::kGamma;
    } else if (arrival == "constant") {
      w.arrival = ArrivalKind::kConstant;
    } else if (arrival == "trace") {
      w.arrival = ArrivalKind::kTrace;
    } else if (arrival == "closed-loop") {
      w.arrival = ArrivalKind::kClosedLoop;
    } else {
      throw Error(fmt::format("{}: unknown arrival \"{}\"; valid values are: poisson, gamma, "
                              "constant, trace, closed-loop",
                              t.location_of("arrival"), arrival));
    }
    w.requests = int_in(t, "requests", w.arrival == ArrivalKind::kTrace ? 0 : 1000, 1, 100000000);
    const bool needs_rate = w.arrival == ArrivalKind::kPoisson ||
                            w.arrival == ArrivalKind::kGamma ||
                            w.arrival == ArrivalKind::kConstant;
    if (needs_rate && !t.number("rate")) {
      throw Error(fmt::format("{}: arrival \"{}\" needs workload.rate (requests per second, > 0)",
                              t.location(), arrival));
    }
    w.rate = number_in(t, "rate", 1.0, 0.0, 1e7, true);
    w.burstiness = number_in(t, "burstiness", 1.0, 0.0, 100.0, true);
    w.concurrency = int_in(t, "concurrency", 1, 1, 1000000);
    w.ramp_up_s = number_in(t, "ramp_up_s", 0.0, 0.0, 1e6, false);
    w.warmup_requests = int_in(t, "warmup_requests", 0, 0, 100000000);
    if (auto timing = t.string("trace_timing")) {
      using T = WorkloadConfig::TraceTiming;
      if (*timing == "recorded") {
        w.trace_timing = T::kRecorded;
      } else if (*timing == "rate") {
        w.trace_timing = T::kRate;
      } else if (*timing == "concurrency") {
        w.trace_timing = T::kConcurrency;
      } else {
        throw Error(fmt::format("{}: {} \"{}\": valid values are: recorded, rate, concurrency",
                                t.location_of("trace_timing"), t.key_path("trace_timing"), *timing));
      }
      if (w.arrival != ArrivalKind::kTrace) {
        throw Error(fmt::format("{}: {} applies to arrival = \"trace\" only", t.location_of("trace_timing"),
                                t.key_path("trace_timing")));
      }
      if (w.trace_timing == T::kRate && !t.number("rate")) {
        throw Error(fmt::format("{}: trace_timing \"rate\" needs workload.rate", t.location()));
      }
    }
    if (t.raw("think_time")) {
      w.think_time = read_distribution(t, "think_time", 0.0, kThinkSeconds);
      if (w.arrival != ArrivalKind::kClosedLoop &&
          w.trace_timing != WorkloadConfig::TraceTiming::kConcurrency) {
        throw Error(fmt::format("{}: {} applies to closed-loop users only", t.location_of("think_time"),
                                t.key_path("think_time")));
      }
    }
    if (t.number("ramp_up_s") && w.arrival != ArrivalKind::kClosedLoop &&
        w.trace_timing != WorkloadConfig::TraceTiming::kConcurrency) {
      throw Error(fmt::format("{}: {} applies to closed-loop users only (arrival = \"closed-loop\", "
                              "or a trace with trace_timing = \"concurrency\")",
                              t.location_of("ramp_up_s"), t.key_path("ramp_up_s")));
    }
    check_workload(w, t.location());
    if (auto tr = t.string("trace")) {
      std::filesystem::path p(*tr);
      if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
      w.trace = p.string();
    }
    if (w.arrival == ArrivalKind::kTrace && w.trace.empty()) {
      throw Error(fmt::format("{}: arrival \"trace\" needs workload.trace (a CSV or JSONL file)",
                              t.location()));
    }
    w.prompt_tokens = read_length(t, "prompt_tokens", 512);
    w.output_tokens = read_length(t, "output_tokens", 128);
    if (auto p = t.table("prefix")) {
      w.prefix_share = number_in(*p, "share", 0.0, 0.0, 1.0, false);
      w.prefix_tokens = int_in(*p, "tokens", 0, 1, 10000000);
      w.prefix_distinct = int_in(*p, "distinct", 1, 1, 1000000);
      if (!p->integer("tokens")) {
        throw Error(fmt::format("{}: workload.prefix needs tokens (the shared prefix length)",
                                p->location()));
      }
      p->finish();
    }
  });

  section(r, "slo", [&](TableReader& t) {
    if (t.number("ttft_ms")) s.slo.ttft_ms = positive_number(t, "ttft_ms", 1);
    if (t.number("tpot_ms")) s.slo.tpot_ms = positive_number(t, "tpot_ms", 1);
    s.slo.percentile = positive_number(t, "percentile", 99.0);
    if (s.slo.percentile > 100.0) {
      throw Error(fmt::format("{}: slo.percentile must be in (0, 100], got {}",
                              t.location_of("percentile"), s.slo.percentile));
    }
  });

  r.finish();
  return s;
}

}  // namespace servesim
