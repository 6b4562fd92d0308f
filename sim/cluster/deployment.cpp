#include "sim/cluster/deployment.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/policy/registry.hpp"

namespace servesim {

int Deployment::gpus() const {
  int n = 0;
  for (const PoolSetup& p : pools) n += p.gpus();
  return n;
}

int Deployment::replicas() const {
  int n = 0;
  for (const PoolSetup& p : pools) n += p.replicas;
  return n;
}

namespace {

// The key that sets a pool's tp, for messages.
std::string tp_key(const Scenario& s, const PoolConfig& pc) {
  if (s.cluster.pools.size() == 1 && pc.name == "default") return "cluster.tp";
  return fmt::format("the tp of pool \"{}\"", pc.name);
}

// A pool's layout key, for messages: "cluster.ep" or "ep in pool \"x\"".
std::string layout_key(const Scenario& s, const PoolConfig& pc, const char* key) {
  if (s.cluster.pools.size() == 1 && pc.name == "default") return fmt::format("cluster.{}", key);
  return fmt::format("the {} of pool \"{}\"", key, pc.name);
}

std::string divisors(int n) {
  std::vector<std::string> out;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0) out.push_back(std::to_string(d));
  }
  return join(out);
}

}  // namespace

Parallelism resolve_layout(const PoolConfig& pc, const ModelSpec& m, std::vector<int>& split,
                           const std::function<std::string(const char*)>& key) {
  Parallelism par;
  par.tp = pc.tp;
  par.pp = pc.pp;
  par.ep = pc.ep;
  par.dp_attention = pc.dp_attention;
  par.moe_comm = pc.moe_comm == "allgather-reducescatter" ? MoeComm::kAllGatherReduceScatter
                                                           : MoeComm::kAllToAll;
  par.expert_skew = pc.expert_skew;
  if (pc.moe_keys_given && !m.is_moe()) {
    throw Error(fmt::format("{} sets expert parallelism (ep, dp_attention, moe_comm or "
                            "expert_skew), but {} is a dense model: it has no experts",
                            pc.layout_where, m.name));
  }
  if (m.is_moe()) {
    // Attention tp x dp = ep x moe_tp, over the stage's tp GPUs.
    if (pc.tp % pc.ep != 0) {
      throw Error(fmt::format(
          "{} = {} does not divide the stage's {} GPUs: attention tp ({}) x dp ({}) must "
          "equal ep x moe_tp; valid ep values are: {}",
          key("ep"), pc.ep, pc.tp, par.attention_tp(), par.dp(),
          divisors(pc.tp)));
    }
    if (m.experts % pc.ep != 0) {
      throw Error(fmt::format("{} = {} does not split the {} experts of {} evenly", key("ep"),
                              pc.ep, m.experts, m.name));
    }
  }
  if (pc.pp > 1 && pc.role != PoolRole::kColocated) {
    throw Error(fmt::format("{} = {} in a {} pool: servesim cannot model pipeline stages "
                            "in prefill/decode disaggregation (each stage's KV would move on "
                            "its own); use pp = 1 there, or a colocated pool",
                            key("pp"), pc.pp, role_name(pc.role)));
  }
  if (pc.pp > 1 && pc.engine.seq_overhead_us > 0) {
    throw Error(fmt::format("{} = {} with engine.seq_overhead_us: a pipeline's driver pays "
                            "engine.cpu_overhead_ms per batch, but servesim does not model its "
                            "per-sequence CPU work; leave seq_overhead_us at 0 with pp > 1",
                            key("pp"), pc.pp));
  }
  if (pc.dp_attention && pc.role != PoolRole::kColocated) {
    throw Error(fmt::format("{} = true in a {} pool: servesim does not track which data-parallel "
                            "rank holds a request's KV, so it cannot move it between pools; "
                            "use tensor-parallel attention there",
                            key("dp_attention"), role_name(pc.role)));
  }
  if (pc.pp > m.layers) {
    throw Error(fmt::format("{} = {} is more stages than {}'s {} layers", key("pp"), pc.pp,
                            m.name, m.layers));
  }
  if (!pc.layer_split.empty()) {
    int sum = 0;
    for (int n : pc.layer_split) sum += n;
    if (static_cast<int>(pc.layer_split.size()) != pc.pp || sum != m.layers) {
      throw Error(fmt::format("{} has {} stages summing to {} layers; it needs pp = {} "
                              "counts that sum to {}'s {} layers",
                              key("layer_split"), pc.layer_split.size(), sum, pc.pp, m.name,
                              m.layers));
    }
    split = pc.layer_split;
  } else {
    // As even as possible, the first stages taking one more when the layers do not divide.
    split.assign(static_cast<std::size_t>(pc.pp), m.layers / pc.pp);
    for (int i = 0; i < m.layers % pc.pp; ++i) ++split[static_cast<std::size_t>(i)];
  }
  return par;
}

namespace {


PoolSetup resolve_pool(const Scenario& s, const PoolConfig& pc, const Catalog& catalog) {
  PoolSetup setup;
  const EngineConfig& e = pc.engine;
  setup.name = pc.name;
  setup.role = pc.role;
  setup.replicas = pc.replicas;
  setup.engine = e;
  setup.model = catalog.model(s.model.name, s.model.allow_approximate);
  setup.gpu = catalog.gpu(pc.gpu.empty() ? s.hardware.gpu : pc.gpu);
  setup.link = catalog.link(s.hardware.interconnect.empty() ? setup.gpu.interconnect
                                                            : s.hardware.interconnect);
  setup.host = catalog.link(setup.gpu.host_link);
  const CalibrationChoice cal = choose_calibration(s.hardware.calibration, catalog, setup.gpu);
  setup.params = cal.params;
  setup.link.measured = cal.collectives;  // used only when measured on this link
  setup.calibration = cal.description;
  setup.calibration_source = cal.source;
  const ModelSpec& m = setup.model;
  PrecisionRequest want;
  want.dtype = s.model.dtype;
  want.weights = s.model.weight_dtype;
  want.activations = s.model.activation_dtype;
  want.group_size = s.model.group_size;
  want.kv_cache = e.kv_cache_dtype;
  want.where = s.file;
  setup.precision = resolve_precision(want, m, setup.gpu, pc.tp);
  setup.peak_flops = setup.gpu.peak_for(setup.precision.gemm(), setup.precision.compute());

  setup.parallelism = resolve_layout(pc, m, setup.layer_split,
                                     [&](const char* k) { return layout_key(s, pc, k); });
  // Attention heads split evenly over the GPUs; KV heads split evenly, or each is replicated
  // on a whole number of GPUs. (Data-parallel attention runs whole heads on each GPU.)
  auto tp_ok = [&](int tp) {
    return m.heads % tp == 0 && (m.kv_heads % tp == 0 || tp % m.kv_heads == 0);
  };
  if (!pc.dp_attention && !tp_ok(pc.tp)) {
    std::vector<std::string> valid;
    for (int tp = 1; tp <= m.heads; ++tp) {
      if (tp_ok(tp)) valid.push_back(std::to_string(tp));
    }
    throw Error(fmt::format("{}: {} = {} does not split the {} attention heads and {} KV "
                            "heads of {} evenly; valid tp values are: {}",
                            s.file, tp_key(s, pc), pc.tp, m.heads, m.kv_heads, m.name,
                            join(valid)));
  }
  // A node holds the topology's gpus_per_node GPUs, or without [topology] the GPU's server.
  setup.gpus_per_node = s.topology.given ? s.topology.gpus_per_node : setup.gpu.gpus_per_node;
  if (pc.tp > setup.gpus_per_node) {
    const std::string key = tp_key(s, pc);
    const std::string flag = s.cluster.pools.size() == 1 && pc.name == "default"
                                 ? std::string("cluster.cross_node_tp")
                                 : fmt::format("cross_node_tp in pool \"{}\"", pc.name);
    if (!pc.cross_node_tp) {
      throw Error(fmt::format(
          "{}: {} = {} is more GPUs than a node holds ({} {} GPUs{}); a tensor-parallel group "
          "across nodes is priced over the NICs only when the scenario asks for it: set {} = "
          "true",
          s.file, key, pc.tp, setup.gpus_per_node, setup.gpu.name,
          s.topology.given ? ", topology.gpus_per_node" : ", its gpus_per_node", flag));
    }
    if (pc.tp % setup.gpus_per_node != 0) {
      throw Error(fmt::format("{}: {} = {} across nodes of {} GPUs: a group spans whole nodes, so "
                              "tp must be a multiple of {}",
                              s.file, key, pc.tp, setup.gpus_per_node, setup.gpus_per_node));
    }
    setup.layout.nodes = pc.tp / setup.gpus_per_node;
    setup.layout.nic = catalog.link(s.topology.nic);
    setup.layout.nic_share = s.topology.given ? static_cast<double>(s.topology.nics_per_node) /
                                                    s.topology.gpus_per_node
                                              : 1.0;
  }
  if (e.max_model_len > m.max_context) {
    throw Error(fmt::format("{}: engine.max_model_len = {} exceeds {}'s context of {} tokens "
                            "(max_position_embeddings); give at most {}",
                            s.file, e.max_model_len, m.name, m.max_context, m.max_context));
  }
  setup.max_model_len = e.max_model_len > 0 ? e.max_model_len : m.max_context;
  const auto& row = find_scheduler(e.scheduler);
  setup.max_num_batched_tokens = e.max_num_batched_tokens > 0
                                     ? e.max_num_batched_tokens
                                     : row.default_batched_tokens(setup.max_model_len, setup.gpu);
  if (e.max_num_seqs <= 0) setup.engine.max_num_seqs = row.default_max_num_seqs(setup.gpu);

  MemoryPlanInputs in;
  in.gpu_memory_utilization = e.gpu_memory_utilization;
  in.max_num_batched_tokens = setup.max_num_batched_tokens;
  in.max_num_seqs = setup.engine.max_num_seqs;
  in.block_size = e.block_size;
  in.precision = setup.precision;
  // Each pipeline stage's GPUs hold its layers' weights and KV; the stage with the least room
  // for KV (or the largest shortfall) bounds the replica.
  setup.memory = plan_stages(m, setup.gpu, setup.parallelism, in, setup.layer_split);
  // Weights and activations must fit even when the KV block count is pinned.
  if (setup.memory.shortfall.value > 0 ||
      (setup.memory.kv_blocks == 0 && !e.num_gpu_blocks)) {
    // A larger tp within the node, with the same stages and experts, that would fit.
    std::string hint;
    for (int tp = pc.tp * 2; tp <= setup.gpus_per_node && m.heads % tp == 0; tp *= 2) {
      Parallelism wider = setup.parallelism;
      wider.tp = tp;
      if (plan_stages(m, setup.gpu, wider, in, setup.layer_split).kv_blocks > 0) {
        hint = fmt::format(" Try {} = {}{}.", tp_key(s, pc), tp,
                           pc.pp > 1 ? " (or more pipeline stages)" : "");
        break;
      }
    }
    const double missing_gib = setup.memory.shortfall.value / 1073741824.0;
    if (setup.memory.shortfall.value <= 0) {
      const double block_mib =
          setup.memory.kv_bytes_per_token.value * e.block_size / 1048576.0;
      throw Error(fmt::format("{}: weights and activations fit in {}, but not one KV block of {} "
                              "tokens ({:.1f} MiB per GPU); lower engine.block_size or raise "
                              "engine.gpu_memory_utilization.{}",
                              s.file, setup.gpu.name, e.block_size, block_mib, hint));
    }
    throw Error(fmt::format(
        "{} ({:.1f} GiB of weights per GPU at tp = {}{}) does not fit in {} with "
        "gpu_memory_utilization {}: {:.1f} GiB usable per GPU, {:.2f} GiB more is needed for "
        "weights, activations and runtime, and more still for any KV cache.{}",
        m.name, setup.memory.weights.value / 1073741824.0, pc.tp,
        pc.pp > 1 ? fmt::format(", pp = {}, on its fullest stage", pc.pp) : "", setup.gpu.name,
        e.gpu_memory_utilization, setup.memory.usable.value / 1073741824.0,
        std::max(missing_gib, 0.0), hint));
  }
  // A block holds a token range's KV on every GPU of a stage; with data-parallel attention
  // each GPU holds whole heads for its own sequences, so the stage holds dp times as many.
  setup.kv_blocks = (e.num_gpu_blocks ? *e.num_gpu_blocks : setup.memory.kv_blocks) *
                    setup.parallelism.dp();
  setup.kv_blocks_pinned = e.num_gpu_blocks.has_value();
  return setup;
}


void place_group(const PoolSetup& p, int tp, const TopologyConfig& t, std::size_t& open,
                 std::vector<int>& used, std::vector<int>& first_gpu,
                 std::vector<std::string>& node_gpu, NetworkSetup& net);

// Places every replica on the topology: pools in the order they are written, each replica on
// the lowest-numbered free GPUs of the first node that has room for its whole tensor-parallel
// group (a group never spans nodes) and holds the same GPU type, filling a node before the
// next. Without [topology], each replica has a node of its own.
void place(const Scenario& s, const Catalog& catalog, Deployment& d) {
  NetworkSetup& net = d.network;
  const TopologyConfig& t = s.topology;
  net.described = t.given;
  net.fabric.nic = catalog.link(t.nic);
  net.fabric.nics_per_node = t.given ? t.nics_per_node : 0;  // 0: one per GPU
  net.fabric.nodes_per_leaf = t.nodes_per_leaf;
  net.fabric.oversubscription = t.oversubscription;
  std::vector<int> used;             // per node
  std::vector<int> first_gpu;        // per node
  std::vector<std::string> node_gpu;  // per node: the GPU type it holds
  // Per (GPU type, tp): nodes before this one have no room for such a group, and never will
  // (nodes only fill), so the search for one starts here.
  std::map<std::pair<std::string, int>, std::size_t> first_open;
  for (const PoolSetup& p : d.pools) {
    const int tp = p.parallelism.tp;
    const int pp = p.parallelism.pp;
    std::size_t& open = first_open[{p.gpu.name, tp}];
    for (int r = 0; r < p.replicas; ++r) {
      if (pp == 1) {
        place_group(p, tp, t, open, used, first_gpu, node_gpu, net);
        continue;
      }
      // A pipeline's stages are placed one after another as tp groups; its pp virtual
      // engines all sit on the whole replica's GPUs.
      ReplicaPlacement whole;
      for (int stage = 0; stage < pp; ++stage) {
        place_group(p, tp, t, open, used, first_gpu, node_gpu, net);
        const ReplicaPlacement& g = net.replicas.back();
        if (stage == 0) whole = g;
        whole.stage_first_gpu.push_back(g.first_gpu);
        net.replicas.pop_back();
      }
      whole.gpus = tp * pp;
      for (int v = 0; v < pp; ++v) net.replicas.push_back(whole);
    }
  }
}

// One tensor-parallel group of `tp` GPUs of pool `p`: whole nodes of its own when it crosses
// nodes, else the lowest free GPUs of the first node with room (without [topology], a node of
// its own).
void place_group(const PoolSetup& p, int tp, const TopologyConfig& t, std::size_t& open,
                 std::vector<int>& used, std::vector<int>& first_gpu,
                 std::vector<std::string>& node_gpu, NetworkSetup& net) {
  if (p.crosses_nodes()) {
    // A group across nodes takes whole nodes of its own, after those placed so far.
    const int node_gpus = p.gpus_per_node;
    const auto n0 = static_cast<int>(used.size());
    for (int k = 0; k < p.layout.nodes; ++k) {
      first_gpu.push_back(used.empty() ? 0 : first_gpu.back() + net.nodes.back().gpus);
      used.push_back(node_gpus);
      node_gpu.push_back(p.gpu.name);
      NodeSpec node;
      node.gpus = node_gpus;
      node.intra = p.link;
      node.host = p.host;
      net.nodes.push_back(node);
    }
    net.replicas.push_back(ReplicaPlacement{n0, first_gpu[static_cast<std::size_t>(n0)], tp, {}});
    return;
  }
  std::size_t n = used.size();  // without [topology], a node of its own
  if (t.given) {
    while (open < used.size() &&
           (node_gpu[open] != p.gpu.name || t.gpus_per_node - used[open] < tp)) {
      ++open;
    }
    n = open;
  }
  if (n == used.size()) {
    first_gpu.push_back(used.empty() ? 0 : first_gpu.back() + net.nodes.back().gpus);
    used.push_back(0);
    node_gpu.push_back(p.gpu.name);
    NodeSpec node;
    node.gpus = t.given ? t.gpus_per_node : tp;
    node.intra = p.link;
    node.host = p.host;
    net.nodes.push_back(node);
  }
  net.replicas.push_back(ReplicaPlacement{static_cast<int>(n), first_gpu[n] + used[n], tp, {}});
  used[n] += tp;
}

}  // namespace

std::vector<int> ReplicaPlacement::all_gpus() const {
  std::vector<int> out;
  if (stage_first_gpu.empty()) {
    for (int g = first_gpu; g < first_gpu + gpus; ++g) out.push_back(g);
    return out;
  }
  const int tp = gpus / static_cast<int>(stage_first_gpu.size());
  for (int f : stage_first_gpu) {
    for (int g = f; g < f + tp; ++g) out.push_back(g);
  }
  return out;
}

Deployment resolve(const Scenario& s, const Catalog& catalog) {
  Deployment d;
  for (const PoolConfig& pc : s.cluster.pools) {
    try {
      d.pools.push_back(resolve_pool(s, pc, catalog));
      if (!s.topology.intra_node.empty()) {
        // The topology names the link between a node's GPUs: tensor parallelism uses it too.
        PoolSetup& p = d.pools.back();
        CollectiveTable measured = p.link.measured;
        p.link = catalog.link(s.topology.intra_node);
        p.link.measured = measured;
      }
    } catch (const Error& e) {
      // Errors from catalogs and tables name the scenario file too.
      const std::string msg = e.what();
      if (msg.rfind(s.file, 0) == 0) throw;
      throw Error(fmt::format("{}: {}", s.file, msg));
    }
  }
  // One KV format across pools: a cache handed from prefill to decode is read as written.
  for (const PoolSetup& p : d.pools) {
    if (p.precision.kv != d.pools.front().precision.kv) {
      throw Error(fmt::format("{}: pool \"{}\" stores the KV cache in {} and pool \"{}\" in {}; "
                              "give every pool the same engine.kv_cache_dtype",
                              s.file, d.pools.front().name, dtype_name(d.pools.front().precision.kv),
                              p.name, dtype_name(p.precision.kv)));
    }
  }
  d.disaggregated = s.disaggregated();
  d.disaggregation = s.disaggregation;
  if (d.disaggregated) {
    try {
      find_decode_router(s.disaggregation.decode_router);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: disaggregation.decode_router: {}", s.file, e.what()));
    }
  }
  bool swaps = false;
  bool pipelines = false;
  for (const PoolSetup& p : d.pools) {
    swaps = swaps || p.engine.swap_preemption;
    pipelines = pipelines || p.parallelism.pp > 1;
  }
  if (s.topology.given || d.disaggregated || swaps || pipelines) {
    try {
      place(s, catalog, d);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind(s.file, 0) == 0) throw;
      throw Error(fmt::format("{}: [topology]: {}", s.file, msg));
    }
    d.network.built = true;
  }
  return d;
}

}  // namespace servesim
