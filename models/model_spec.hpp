// A transformer's architecture, read from the fields of a Hugging Face config.json (or the
// same keys in a catalog TOML file), and the sizes that follow from it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/dtype.hpp"
#include "sim/core/units.hpp"

namespace servesim {

// DeepSeek-V2/V3's multi-head latent attention: keys and values are cached as one compressed
// latent of kv_lora_rank plus a shared rotary key of qk_rope_head_dim per token and layer.
struct MlaSpec {
  int q_lora_rank = 0;  // 0: queries projected directly from the hidden state
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
};

// A checkpoint's own quantization, from config.json's quantization_config: the formats an
// engine loading it runs. `activations` bf16 for weight-only methods (AWQ, GPTQ).
struct QuantConfig {
  std::string method;  // quant_method as written: awq, gptq, fp8, compressed-tensors, ...
  DType weights = DType::kBF16;
  DType activations = DType::kBF16;
  int group_size = 0;  // 0: one scale per output column
};

struct ModelSpec {
  std::string name;    // catalog name or file stem
  std::string source;  // file it was read from
  std::string model_type;
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int kv_heads = 0;   // heads the KV cache holds; MLA: 1 (the latent every head reads)
  int head_dim = 0;   // query and key width per head (MLA: nope + rope)
  int intermediate = 0;  // the dense MLP's width (dense models, and MoE models' dense layers)
  int vocab = 0;
  int max_context = 0;
  bool tie_embeddings = false;
  bool attention_bias = false;  // Qwen2 and Qwen2-MoE add a bias to q, k and v
  bool qk_norm = false;         // Qwen3: an RMSNorm on each head's q and k
  // Mixture of experts.
  int experts = 0;               // routed experts; 0: dense MLP
  int experts_per_token = 0;     // top-k
  int moe_intermediate = 0;      // each routed expert's width
  int shared_intermediate = 0;   // the always-active shared expert(s), summed; 0: none
  bool shared_expert_gate = false;  // Qwen2-MoE gates its shared expert (a 1-wide linear)
  int dense_layers = 0;          // layers whose MLP is dense (DeepSeek's first_k_dense_replace)
  bool mla = false;
  MlaSpec mla_dims;
  // A pipeline stage holds some of the layers: the first stage the embedding, the last the
  // final norm, LM head and sampler (stage_slice).
  bool has_embedding = true;
  bool has_lm_head = true;
  std::optional<QuantConfig> quant;  // the checkpoint's quantization_config, when it has one
  int norms_per_layer = 2;  // RMSNorms per decoder layer (Gemma 2 and 3: 4)
  // Sliding-window attention: `window_layers` of the layers attend over at most
  // `sliding_window` keys (0, 0: none, or a window as long as the context).
  int sliding_window = 0;
  int window_layers = 0;
  // What was read approximately (model.allow_approximate): one line per field ignored.
  std::vector<std::string> approximations;

  bool is_moe() const { return experts > 1; }
  // The window BatchShape::window takes: sliding_window when some layers use it, else 0.
  std::int64_t attention_window() const { return window_layers > 0 ? sliding_window : 0; }
  int moe_layers() const { return is_moe() ? layers - dense_layers : 0; }
  // Value width per head (MLA: v_head_dim; else head_dim).
  int v_dim() const { return mla ? mla_dims.v_head_dim : head_dim; }
  // Elements one cache head holds per token and layer: K and V (2 * head_dim), or MLA's
  // latent plus rotary key (kv_lora_rank + qk_rope_head_dim).
  int kv_elems_per_head() const {
    return mla ? mla_dims.kv_lora_rank + mla_dims.qk_rope_head_dim : 2 * head_dim;
  }
  // Parameter counts, embeddings and LM head included (multi-token-prediction heads not).
  double total_params() const;
  // Parameters touched per token (MoE: only the top-k routed experts).
  double active_params() const;
  // Parameters a quantized checkpoint keeps unquantized (embedding, LM head, norms, q/k/v
  // biases, q/k norms, the MoE router), and those of the routed experts.
  double unquantized_params() const;
  double expert_params() const;
  // KV cache per token over all layers: layers * kv_heads * kv_elems_per_head * bytes.
  Bytes kv_bytes_per_token(DType kv) const;
};

// The layers [first, first + count) of `m` as one pipeline stage: the embedding on the first
// stage, the LM head on the last. Dense layers are taken to come first (DeepSeek's
// first_k_dense_replace; a Qwen-MoE's mlp_only_layers are counted as if they did).
ModelSpec stage_slice(const ModelSpec& m, int first, int count);

// The model_type values servesim models (with their architectures classes: LlamaForCausalLM,
// ...), in the order errors give them.
const std::vector<std::string>& supported_model_types();

// Reads a catalog TOML (keys as in config.json) or a real config.json. Unknown config.json
// keys are ignored (real files carry dozens); missing required keys are errors, and so is a
// model_type servesim does not model.
// The family is config.json's model_type, or its first `architectures` class. A family servesim
// does not model, or a known one with fields that change cost but are not modelled (experts on
// a dense family, a sliding window shorter than the context, MLP biases), is an error naming
// them, unless `allow_approximate`: then the model is read without them and
// ModelSpec::approximations says what was ignored.
ModelSpec load_model_file(const std::filesystem::path& path, bool allow_approximate = false);

}  // namespace servesim
