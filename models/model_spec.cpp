#include "models/model_spec.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "sim/core/error.hpp"
#include "sim/core/input_file.hpp"

namespace servesim {

namespace {

double attention_params(const ModelSpec& m) {
  const double h = m.hidden;
  const double heads = m.heads;
  if (m.mla) {
    const MlaSpec& a = m.mla_dims;
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    const double q = a.q_lora_rank > 0
                         ? h * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * heads * qk
                         : h * heads * qk;
    const double kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank +
                      a.kv_lora_rank * heads * (a.qk_nope_head_dim + a.v_head_dim);
    return q + kv + heads * a.v_head_dim * h;
  }
  const double q = heads * m.head_dim;
  const double kv = static_cast<double>(m.kv_heads) * m.head_dim;
  double attn = h * q + 2.0 * h * kv + q * h;
  if (m.attention_bias) attn += q + 2.0 * kv;
  if (m.qk_norm) attn += 2.0 * m.head_dim;
  return attn;
}

// One MoE layer's MLP: every routed expert, the router, the shared expert and its gate.
double moe_mlp_params(const ModelSpec& m) {
  const double h = m.hidden;
  return m.experts * 3.0 * h * m.moe_intermediate + h * m.experts +
         3.0 * h * m.shared_intermediate + (m.shared_expert_gate ? h : 0.0);
}

// The embedding table and, on the stage with it, the final norm and LM head (a tied LM head is
// the embedding itself only where both are on one stage).
double table_params(const ModelSpec& m) {
  const double h = m.hidden;
  const double table = static_cast<double>(m.vocab) * h;
  const double embed = m.has_embedding ? table : 0.0;
  const double head = m.has_lm_head ? (m.tie_embeddings && m.has_embedding ? 0.0 : table) + h : 0.0;
  return embed + head;
}

}  // namespace

double ModelSpec::total_params() const {
  const double h = hidden;
  const double dense_mlp = 3.0 * h * intermediate;  // gate, up, down
  const double norms = norms_per_layer * h;
  // A pipeline stage holds the embedding if it is the first, the final norm and LM head if it
  // is the last (table_params).
  const double attn = attention_params(*this);
  return layers * (attn + norms) + (layers - moe_layers()) * dense_mlp +
         moe_layers() * moe_mlp_params(*this) + table_params(*this);
}

double ModelSpec::active_params() const {
  if (!is_moe()) return total_params();
  const double unused = static_cast<double>(experts - experts_per_token) * 3.0 * hidden *
                        moe_intermediate * moe_layers();
  return total_params() - unused;
}

double ModelSpec::unquantized_params() const {
  const double h = hidden;
  double per_layer = norms_per_layer * h;  // the RMSNorms
  if (!mla) {
    const double q = static_cast<double>(heads) * head_dim;
    const double kv = static_cast<double>(kv_heads) * head_dim;
    if (attention_bias) per_layer += q + 2.0 * kv;
    if (qk_norm) per_layer += 2.0 * head_dim;
  } else {
    per_layer += mla_dims.kv_lora_rank + (mla_dims.q_lora_rank > 0 ? mla_dims.q_lora_rank : 0);
  }
  const double router = is_moe() ? h * experts * moe_layers() : 0.0;
  const double gate = shared_expert_gate ? h * moe_layers() : 0.0;
  return layers * per_layer + table_params(*this) + router + gate;
}

double ModelSpec::expert_params() const {
  return static_cast<double>(moe_layers()) * experts * 3.0 * hidden * moe_intermediate;
}

Bytes ModelSpec::kv_bytes_per_token(DType kv) const {
  return Bytes(static_cast<double>(layers) * kv_heads * kv_elems_per_head() * dtype_bytes(kv));
}

ModelSpec stage_slice(const ModelSpec& m, int first, int count) {
  ModelSpec s = m;
  s.layers = count;
  s.dense_layers = std::clamp(m.dense_layers - first, 0, count);
  s.has_embedding = m.has_embedding && first == 0;
  s.has_lm_head = m.has_lm_head && first + count == m.layers;
  return s;
}

namespace {

// The families servesim reads, with the Hugging Face class that names each in
// `architectures`, and whether its MLP is a mixture of experts.
struct Family {
  const char* type;
  const char* architecture;
  bool moe;
};
constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM", false},         {"mistral", "MistralForCausalLM", false},
    {"mixtral", "MixtralForCausalLM", true},      {"qwen2", "Qwen2ForCausalLM", false},
    {"qwen3", "Qwen3ForCausalLM", false},         {"qwen2_moe", "Qwen2MoeForCausalLM", true},
    {"qwen3_moe", "Qwen3MoeForCausalLM", true},   {"deepseek_v2", "DeepseekV2ForCausalLM", true},
    {"deepseek_v3", "DeepseekV3ForCausalLM", true}, {"gemma2", "Gemma2ForCausalLM", false},
    {"gemma3_text", "Gemma3ForCausalLM", false},  {"phi3", "Phi3ForCausalLM", false},
};

const Family* family_of_type(const std::string& t) {
  for (const Family& f : kFamilies) {
    if (t == f.type) return &f;
  }
  return nullptr;
}
const Family* family_of_architecture(const std::string& a) {
  for (const Family& f : kFamilies) {
    if (a == f.architecture) return &f;
  }
  return nullptr;
}

// Keys that change nothing servesim prices (numerics, token ids, rotary details, bookkeeping),
// and those it reads: an unknown family read with allow_approximate lists every other key.
const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys = {
      "architectures", "model_type", "torch_dtype", "dtype", "transformers_version",
      "bos_token_id", "eos_token_id", "pad_token_id", "rms_norm_eps", "layer_norm_eps",
      "rope_theta", "rope_scaling", "rope_local_base_freq", "hidden_act", "hidden_activation",
      "initializer_range", "use_cache", "attention_dropout", "pretraining_tp", "tokenizer_class",
      "_name_or_path", "auto_map", "max_window_layers", "use_sliding_window", "quantization_config",
      "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
      "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings",
      "tie_word_embeddings", "attention_bias", "mlp_bias", "query_pre_attn_scalar",
      "attn_logit_softcapping", "final_logit_softcapping", "sliding_window",
      "sliding_window_pattern", "layer_types", "original_max_position_embeddings",
      "partial_rotary_factor", "embd_pdrop", "resid_pdrop", "num_nextn_predict_layers",
      "norm_topk_prob", "router_aux_loss_coef", "output_router_logits", "router_jitter_noise",
      "routed_scaling_factor", "scoring_func", "topk_method", "n_group", "topk_group",
      "ep_size", "aux_loss_alpha", "seq_aux", "qkv_bias"};
  return keys;
}

}  // namespace

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> t;
    for (const Family& f : kFamilies) t.push_back(f.type);
    return t;
  }();
  return types;
}

namespace {

std::string join_types() {
  std::string out;
  for (const auto& t : supported_model_types()) out += (out.empty() ? "" : ", ") + t;
  return out;
}

// What a model file holds besides integers: the keys present (not null), booleans, the
// architectures list.
struct ConfigFacts {
  std::vector<std::string> keys;
  std::vector<std::string> architectures;
  std::optional<bool> tie;
  std::optional<bool> attention_bias;
  std::optional<bool> mlp_bias;
  std::optional<bool> use_sliding_window;
};

// One reader for both formats: getters for an integer (absent or null: nullopt) and for a
// list of integers.
template <class Get, class GetList>
ModelSpec build(const std::filesystem::path& path, Get get_int, GetList get_list,
                const ConfigFacts& facts, std::string type, bool allow_approximate) {
  ModelSpec m;
  m.source = path.string();
  m.name = path.stem().string();
  if (m.name == "config") m.name = path.parent_path().filename().string();
  // The family: model_type, or the first of `architectures`; the two must agree.
  const std::string arch = facts.architectures.empty() ? "" : facts.architectures.front();
  const Family* by_arch = family_of_architecture(arch);
  if (type.empty() && by_arch) type = by_arch->type;
  const Family* family = family_of_type(type);
  if (family && by_arch && by_arch != family) {
    throw Error(fmt::format("{}: model_type \"{}\" and architectures [\"{}\"] name different "
                            "families ({} is {})",
                            path.string(), type, arch, arch, by_arch->type));
  }
  if (!family) {
    const std::string what =
        type.empty() ? (arch.empty() ? std::string("missing \"model_type\" (config.json's architecture family) and \"architectures\":")
                                     : fmt::format("architectures [\"{}\"]", arch))
                     : fmt::format("model_type \"{}\"", type);
    if (!allow_approximate) {
      throw Error(fmt::format("{}: {}{} servesim models: {}. "
                              "Set model.allow_approximate = true to read it as a dense "
                              "Llama-like decoder (the report then lists what was ignored)",
                              path.string(), what,
                              type.empty() && arch.empty() ? "" : " is an architecture servesim does not model;",
                              join_types()));
    }
    // Read as a dense decoder from the standard keys; everything else is named as ignored.
    std::vector<std::string> ignored;
    for (const std::string& k : facts.keys) {
      const auto& known = known_keys();
      if (std::find(known.begin(), known.end(), k) == known.end()) ignored.push_back(k);
    }
    m.approximations.push_back(fmt::format(
        "{} read as a dense Llama-like decoder{}", what,
        ignored.empty() ? std::string() : "; fields ignored: " + join(ignored)));
    type = "llama";
    family = family_of_type(type);
  }
  m.model_type = std::move(type);
  // Each size with a physical ceiling, checked in 64 bits before it is stored as an int.
  auto ceiling = [](const char* key) -> long long {
    static const std::pair<const char*, long long> limits[] = {
        {"hidden_size", 1LL << 20},           {"intermediate_size", 1LL << 22},
        {"num_hidden_layers", 4096},          {"num_attention_heads", 4096},
        {"num_key_value_heads", 4096},        {"head_dim", 4096},
        {"vocab_size", 1LL << 24},            {"max_position_embeddings", 1LL << 30},
        {"num_experts", 65536},               {"n_routed_experts", 65536},
        {"num_local_experts", 65536},         {"num_experts_per_tok", 65536},
        {"moe_intermediate_size", 1LL << 22}, {"shared_expert_intermediate_size", 1LL << 22},
        {"n_shared_experts", 1024},           {"decoder_sparse_step", 4096},
        {"first_k_dense_replace", 4096},      {"moe_layer_freq", 4096},
        {"q_lora_rank", 1LL << 20},           {"kv_lora_rank", 1LL << 20},
        {"qk_nope_head_dim", 4096},           {"qk_rope_head_dim", 4096},
        {"v_head_dim", 4096},
    };
    for (const auto& [k, v] : limits) {
      if (std::string_view(k) == key) return v;
    }
    return 1LL << 20;
  };
  auto require = [&](const char* key) {
    auto v = get_int(key);
    if (!v) {
      throw Error(fmt::format("{}: missing required key \"{}\" (a {} model file needs it)",
                              path.string(), key, m.model_type));
    }
    if (*v <= 0 || *v > ceiling(key)) {
      throw Error(fmt::format("{}: \"{}\" must be from 1 to {}, got {}", path.string(), key,
                              ceiling(key), *v));
    }
    return static_cast<int>(*v);
  };
  auto optional = [&](const char* key, int fallback) {
    auto v = get_int(key);
    if (!v) return fallback;
    if (*v < 0 || *v > ceiling(key)) {
      throw Error(fmt::format("{}: \"{}\" must be from 0 to {}, got {}", path.string(), key,
                              ceiling(key), *v));
    }
    return static_cast<int>(*v);
  };
  m.hidden = require("hidden_size");
  m.intermediate = require("intermediate_size");
  m.layers = require("num_hidden_layers");
  m.heads = require("num_attention_heads");
  m.vocab = require("vocab_size");
  m.max_context = require("max_position_embeddings");
  m.kv_heads = get_int("num_key_value_heads") ? require("num_key_value_heads") : m.heads;
  m.head_dim = get_int("head_dim") ? require("head_dim") : m.hidden / m.heads;
  if (m.head_dim < 1) {
    throw Error(fmt::format("{}: hidden_size ({}) over num_attention_heads ({}) leaves no head "
                            "dimension; give head_dim",
                            path.string(), m.hidden, m.heads));
  }
  if (m.kv_heads > m.heads) {
    throw Error(fmt::format("{}: num_key_value_heads ({}) exceeds num_attention_heads ({})",
                            path.string(), m.kv_heads, m.heads));
  }
  const std::string& t = m.model_type;
  const bool gemma = t == "gemma2" || t == "gemma3_text";
  // Gemma's configuration class ties the LM head to the embedding unless it says otherwise.
  m.tie_embeddings = facts.tie.value_or(gemma);
  m.attention_bias = t == "qwen2" || t == "qwen2_moe" || facts.attention_bias.value_or(false);
  m.qk_norm = t == "qwen3" || t == "qwen3_moe" || t == "gemma3_text";
  // Gemma 2 and 3 norm before and after both attention and the MLP.
  if (gemma) m.norms_per_layer = 4;
  if (t == "qwen2_moe" || t == "qwen3_moe") {
    m.experts = require("num_experts");
    m.experts_per_token = require("num_experts_per_tok");
    m.moe_intermediate = require("moe_intermediate_size");
    m.shared_intermediate = optional("shared_expert_intermediate_size", 0);
    m.shared_expert_gate = m.shared_intermediate > 0 && t == "qwen2_moe";
    // Layer i is MoE unless listed in mlp_only_layers, and when (i + 1) % decoder_sparse_step
    // is 0.
    const int step = get_int("decoder_sparse_step") ? require("decoder_sparse_step") : 1;
    const std::vector<long long> dense_only = get_list("mlp_only_layers");
    for (int i = 0; i < m.layers; ++i) {
      const bool listed = std::find(dense_only.begin(), dense_only.end(), i) != dense_only.end();
      if (listed || (i + 1) % step != 0) ++m.dense_layers;
    }
  } else if (t == "deepseek_v2" || t == "deepseek_v3") {
    m.experts = require("n_routed_experts");
    m.experts_per_token = require("num_experts_per_tok");
    m.moe_intermediate = require("moe_intermediate_size");
    m.shared_intermediate = optional("n_shared_experts", 0) * m.moe_intermediate;
    m.dense_layers = std::min(m.layers, optional("first_k_dense_replace", 0));
    if (optional("moe_layer_freq", 1) != 1) {
      throw Error(fmt::format("{}: moe_layer_freq = {}: servesim models DeepSeek MoE layers "
                              "after the first first_k_dense_replace ones, every layer (1)",
                              path.string(), *get_int("moe_layer_freq")));
    }
    m.mla = true;
    m.mla_dims.q_lora_rank = optional("q_lora_rank", 0);
    m.mla_dims.kv_lora_rank = require("kv_lora_rank");
    m.mla_dims.qk_nope_head_dim = require("qk_nope_head_dim");
    m.mla_dims.qk_rope_head_dim = require("qk_rope_head_dim");
    m.mla_dims.v_head_dim = require("v_head_dim");
    m.head_dim = m.mla_dims.qk_nope_head_dim + m.mla_dims.qk_rope_head_dim;
    m.kv_heads = 1;  // one latent per token, read by every head and kept whole on every rank
  } else if (t == "mixtral") {  // every layer MoE
    m.experts = require("num_local_experts");
    m.experts_per_token = get_int("num_experts_per_tok") ? require("num_experts_per_tok") : 2;
    m.moe_intermediate = m.intermediate;
  }
  if (m.is_moe() && m.experts_per_token > m.experts) {
    throw Error(fmt::format("{}: num_experts_per_tok ({}) exceeds the {} routed experts",
                            path.string(), m.experts_per_token, m.experts));
  }
  if (m.heads % m.kv_heads != 0) {
    throw Error(fmt::format("{}: num_attention_heads ({}) must be a multiple of "
                            "num_key_value_heads ({})",
                            path.string(), m.heads, m.kv_heads));
  }
  // Fields that change cost but that this family is not read with: refused by name, or with
  // allow_approximate recorded as ignored (the run's report lists them).
  std::vector<std::string> unmodelled;
  if (!family->moe) {
    for (const char* k : {"num_experts", "num_local_experts", "n_routed_experts",
                          "moe_intermediate_size", "num_experts_per_tok"}) {
      const auto v = get_int(k);
      if (v && *v > 0) unmodelled.push_back(fmt::format("{} = {} (experts on a family read as dense)", k, *v));
    }
  }
  if (!m.mla) {
    for (const char* k : {"kv_lora_rank", "q_lora_rank"}) {
      const auto v = get_int(k);
      if (v && *v > 0) unmodelled.push_back(fmt::format("{} = {} (latent attention on a family without it)", k, *v));
    }
  }
  if (facts.mlp_bias.value_or(false)) unmodelled.push_back("mlp_bias = true (MLP biases)");
  // A sliding window shorter than the context. Attention over it is priced (the layers that
  // use it: every layer for Mistral and Phi-3, every other one for Gemma 2, five of six for
  // Gemma 3, those from max_window_layers on for Qwen2); the KV cache still keeps every token
  // of those layers, where vLLM V1 frees the blocks that leave the window: KV capacity is
  // underestimated, which is why the window still needs allow_approximate.
  if (const auto w = get_int("sliding_window"); w && *w > 0 && *w < m.max_context &&
                                                facts.use_sliding_window.value_or(true)) {
    if (*w > (1LL << 30)) throw Error(fmt::format("{}: \"sliding_window\" = {} is out of range", path.string(), *w));
    m.sliding_window = static_cast<int>(*w);
    if (t == "gemma2") {
      m.window_layers = (m.layers + 1) / 2;  // layers 0, 2, 4, ...
    } else if (t == "gemma3_text") {
      const int pattern = optional("sliding_window_pattern", 6);
      m.window_layers = pattern > 0 ? m.layers - m.layers / pattern : m.layers;
    } else if (t == "qwen2" || t == "qwen3" || t == "qwen2_moe" || t == "qwen3_moe") {
      m.window_layers = std::max(0, m.layers - optional("max_window_layers", 0));
    } else {
      m.window_layers = m.layers;
    }
    unmodelled.push_back(fmt::format(
        "sliding_window = {} on {} of {} layers (their attention is priced over at most {} keys, "
        "but their KV cache keeps every token, where vLLM V1 frees blocks that leave the window: "
        "KV capacity is underestimated)",
        *w, m.window_layers, m.layers, *w));
  }
  if (!unmodelled.empty()) {
    if (!allow_approximate) {
      throw Error(fmt::format("{}: {} fields servesim does not model, or models only in part: {}. Set "
                              "model.allow_approximate = true to run without them (the report "
                              "then lists them)",
                              path.string(), m.model_type, join(unmodelled, "; ")));
    }
    for (std::string& u : unmodelled) m.approximations.push_back("ignored: " + u);
  }
  return m;
}

// config.json's quantization_config: the methods vLLM loads whose cost servesim models.
QuantConfig read_quantization(const std::filesystem::path& path, const nlohmann::json& q, int hidden) {
  const std::string where = path.string() + ": quantization_config";
  if (!q.is_object()) throw Error(fmt::format("{} must be an object", where));
  auto text = [&](const nlohmann::json& obj, const char* key) -> std::string {
    if (!obj.contains(key) || obj[key].is_null()) return "";
    if (!obj[key].is_string()) throw Error(fmt::format("{}: \"{}\" must be a string", where, key));
    return obj[key].get<std::string>();
  };
  auto integer = [&](const nlohmann::json& obj, const char* key, long long fallback) -> long long {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_number_integer()) {
      throw Error(fmt::format("{}: \"{}\" must be an integer", where, key));
    }
    const long long v = obj[key].get<long long>();
    if (v < -1 || v > 65536) throw Error(fmt::format("{}: \"{}\" = {} is out of range", where, key, v));
    return v;
  };
  QuantConfig c;
  c.method = text(q, "quant_method");
  auto weight_bits = [&](long long bits, const std::string& what) {
    if (bits == 4) return DType::kINT4;
    if (bits == 8) return DType::kINT8;
    throw Error(fmt::format("{}: {} {}-bit weights: servesim models 4- and 8-bit integer weights",
                            where, what, bits));
  };
  // GPTQ's group_size -1 is one scale per output column, as is servesim's 0.
  auto group = [&](long long g) { return g <= 0 ? 0 : static_cast<int>(g); };
  const std::string& mth = c.method;
  if (mth == "awq" || mth == "awq_marlin") {
    c.weights = weight_bits(integer(q, "bits", integer(q, "w_bit", 4)), "AWQ");
    c.group_size = group(integer(q, "group_size", integer(q, "q_group_size", 128)));
  } else if (mth == "gptq" || mth == "gptq_marlin" || mth == "marlin") {
    c.weights = weight_bits(integer(q, "bits", 4), "GPTQ");
    c.group_size = group(integer(q, "group_size", 128));
  } else if (mth == "fp8" || mth == "fbgemm_fp8") {
    c.weights = DType::kFP8;
    c.activations = DType::kFP8;
  } else if (mth == "compressed-tensors") {
    // The first config group stands for all (checkpoints quantize every linear layer alike).
    if (!q.contains("config_groups") || !q["config_groups"].is_object() || q["config_groups"].empty()) {
      throw Error(fmt::format("{}: compressed-tensors needs config_groups", where));
    }
    const nlohmann::json& g = q["config_groups"].begin().value();
    if (!g.is_object() || !g.contains("weights") || !g["weights"].is_object()) {
      throw Error(fmt::format("{}: config_groups' first group needs a \"weights\" object", where));
    }
    const nlohmann::json& w = g["weights"];
    const long long bits = integer(w, "num_bits", 8);
    const std::string type = text(w, "type");
    if (type == "float") {
      if (bits != 8) throw Error(fmt::format("{}: {}-bit float weights are not modelled (fp8 is)", where, bits));
      c.weights = DType::kFP8;
    } else {
      c.weights = weight_bits(bits, "compressed-tensors");
    }
    c.group_size = text(w, "strategy") == "group" ? group(integer(w, "group_size", 128)) : 0;
    if (g.contains("input_activations") && g["input_activations"].is_object()) {
      const nlohmann::json& a = g["input_activations"];
      const std::string at = text(a, "type");
      if (integer(a, "num_bits", 8) != 8) {
        throw Error(fmt::format("{}: only 8-bit activations are modelled", where));
      }
      c.activations = at == "float" ? DType::kFP8 : DType::kINT8;
    }
  } else if (mth.empty()) {
    throw Error(fmt::format("{}: missing \"quant_method\"", where));
  } else {
    throw Error(fmt::format("{}: quant_method \"{}\" is not modelled; servesim models awq, gptq "
                            "(4- and 8-bit), fp8 and compressed-tensors (int4/int8 weights, "
                            "fp8/int8 W8A8)",
                            where, mth));
  }
  if (c.group_size > 0 && hidden % c.group_size != 0) {
    throw Error(fmt::format("{}: group_size {} does not divide hidden_size {}", where,
                            c.group_size, hidden));
  }
  return c;
}

}  // namespace

ModelSpec load_model_file(const std::filesystem::path& path, bool allow_approximate) {
  if (!std::filesystem::exists(path)) {
    throw Error(fmt::format("model file {} does not exist", path.string()));
  }
  check_input_file(path.string(), "model file");
  if (path.extension() == ".json") {
    std::ifstream in(path);
    nlohmann::json j;
    try {
      in >> j;
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
    }
    if (!j.is_object()) {
      throw Error(fmt::format("{}: a config.json must hold one JSON object, got {}", path.string(),
                              j.type_name()));
    }
    // "an integer, got a string" and the like: what a field holds, named.
    auto found = [&](const nlohmann::json& v) {
      return fmt::format("{} {}", v.is_array() || v.is_object() ? "an" : "a",
                         v.is_number_float() ? "float" : v.type_name());
    };
    auto whole = [&](const char* key, const nlohmann::json& v) -> long long {
      if (!v.is_number_integer()) {
        throw Error(fmt::format("{}: \"{}\" must be an integer, got {}", path.string(), key, found(v)));
      }
      // Above what a signed 64-bit integer holds: refused before it can wrap.
      if (v.is_number_unsigned() && v.get<unsigned long long>() > 9223372036854775807ULL) {
        throw Error(fmt::format("{}: \"{}\" = {} is far beyond any model", path.string(), key,
                                v.get<unsigned long long>()));
      }
      return v.get<long long>();
    };
    auto get = [&](const char* key) -> std::optional<long long> {
      if (!j.contains(key) || j[key].is_null()) return std::nullopt;
      return whole(key, j[key]);
    };
    auto get_list = [&](const char* key) {
      std::vector<long long> out;
      if (!j.contains(key) || j[key].is_null()) return out;
      if (!j[key].is_array()) throw Error(fmt::format("{}: \"{}\" must be a list of integers", path.string(), key));
      for (const auto& v : j[key]) out.push_back(whole(key, v));
      return out;
    };
    ConfigFacts facts;
    for (const auto& [k, v] : j.items()) {
      if (!v.is_null()) facts.keys.push_back(k);
    }
    auto flag = [&](const char* key) -> std::optional<bool> {
      if (!j.contains(key) || j[key].is_null()) return std::nullopt;
      if (!j[key].is_boolean()) {
        throw Error(fmt::format("{}: \"{}\" must be true or false, got {}", path.string(), key,
                                found(j[key])));
      }
      return j[key].get<bool>();
    };
    facts.tie = flag("tie_word_embeddings");
    facts.attention_bias = flag("attention_bias");
    facts.mlp_bias = flag("mlp_bias");
    facts.use_sliding_window = flag("use_sliding_window");
    if (j.contains("architectures") && j["architectures"].is_array()) {
      for (const auto& a : j["architectures"]) {
        if (a.is_string()) facts.architectures.push_back(a.get<std::string>());
      }
    }
    std::string type;
    if (j.contains("model_type") && !j["model_type"].is_null()) {
      if (!j["model_type"].is_string()) {
        throw Error(fmt::format("{}: \"model_type\" must be a string (e.g. \"llama\"), got {}",
                                path.string(), found(j["model_type"])));
      }
      type = j["model_type"].get<std::string>();
    }
    ModelSpec m = build(path, get, get_list, facts, type, allow_approximate);
    if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
      m.quant = read_quantization(path, j["quantization_config"], m.hidden);
    }
    return m;
  }
  toml::table t;
  try {
    t = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}:{}:{}: {}", path.string(), e.source().begin.line,
                            e.source().begin.column, e.description()));
  }
  auto get = [&](const char* key) -> std::optional<long long> {
    const auto* node = t.get(key);
    if (!node) return std::nullopt;
    if (!node->is_integer()) {
      throw Error(fmt::format("{}:{}: \"{}\" must be an integer", path.string(),
                              node->source().begin.line, key));
    }
    return node->value<long long>();
  };
  auto get_list = [&](const char* key) {
    std::vector<long long> out;
    const auto* node = t.get(key);
    if (!node) return out;
    const auto* arr = node->as_array();
    bool ok = arr != nullptr;
    if (ok) {
      for (const auto& v : *arr) {
        if (!v.is_integer()) ok = false;
        else out.push_back(*v.value<long long>());
      }
    }
    if (!ok) {
      throw Error(fmt::format("{}:{}: \"{}\" must be a list of integers", path.string(),
                              node->source().begin.line, key));
    }
    return out;
  };
  ConfigFacts facts;
  for (const auto& [k, v] : t) facts.keys.emplace_back(k.str());
  auto flag = [&](const char* key) -> std::optional<bool> {
    const auto* node = t.get(key);
    if (!node) return std::nullopt;
    if (!node->is_boolean()) {
      throw Error(fmt::format("{}:{}: \"{}\" must be true or false", path.string(),
                              node->source().begin.line, key));
    }
    return node->value<bool>();
  };
  facts.tie = flag("tie_word_embeddings");
  facts.attention_bias = flag("attention_bias");
  facts.mlp_bias = flag("mlp_bias");
  facts.use_sliding_window = flag("use_sliding_window");
  if (const auto* archs = t.get_as<toml::array>("architectures")) {
    for (const auto& a : *archs) {
      if (const auto* str = a.as_string()) facts.architectures.push_back(str->get());
    }
  }
  const auto* type_node = t.get("model_type");
  if (type_node && !type_node->is_string()) {
    throw Error(fmt::format("{}:{}: \"model_type\" must be a string (e.g. \"llama\")", path.string(),
                            type_node->source().begin.line));
  }
  return build(path, get, get_list, facts,
               type_node ? *type_node->value<std::string>() : std::string{}, allow_approximate);
}

}  // namespace servesim
