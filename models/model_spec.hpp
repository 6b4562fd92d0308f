// A transformer's architecture, read from the fields of a Hugging Face config.json (or the
// same keys in a catalog TOML file), and the sizes that follow from it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "sim/core/dtype.hpp"
#include "sim/core/units.hpp"

namespace servesim {

struct ModelSpec {
  std::string name;    // catalog name or file stem
  std::string source;  // file it was read from
  std::string model_type;
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int intermediate = 0;  // per expert for MoE models
  int vocab = 0;
  int max_context = 0;
  bool tie_embeddings = false;
  bool attention_bias = false;  // Qwen2 adds a bias to q, k and v
  int experts = 0;              // 0: dense MLP
  int experts_per_token = 0;

  bool is_moe() const { return experts > 1; }
  // Parameter counts, embeddings and LM head included.
  double total_params() const;
  // Parameters touched per token (MoE: only the top-k experts).
  double active_params() const;
  // KV cache per token over all layers: 2 (K and V) * layers * kv_heads * head_dim * bytes.
  Bytes kv_bytes_per_token(DType kv) const;
};

// Reads a catalog TOML (keys as in config.json) or a real config.json. Unknown config.json
// keys are ignored (real files carry dozens); missing required keys are errors.
ModelSpec load_model_file(const std::filesystem::path& path);

}  // namespace servesim
