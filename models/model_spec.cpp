#include "models/model_spec.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "sim/core/error.hpp"

namespace servesim {

double ModelSpec::total_params() const {
  const double h = hidden;
  const double q = static_cast<double>(heads) * head_dim;
  const double kv = static_cast<double>(kv_heads) * head_dim;
  double attn = h * q + 2.0 * h * kv + q * h;
  if (attention_bias) attn += q + 2.0 * kv;
  const double mlp_one = 3.0 * h * intermediate;  // gate, up, down
  const double mlp = is_moe() ? experts * mlp_one + h * experts : mlp_one;
  const double norms = 2.0 * h;
  const double embed = static_cast<double>(vocab) * h;
  const double head = tie_embeddings ? 0.0 : embed;
  return layers * (attn + mlp + norms) + h + embed + head;
}

double ModelSpec::active_params() const {
  if (!is_moe()) return total_params();
  const double unused = static_cast<double>(experts - experts_per_token) * 3.0 * hidden *
                        intermediate * layers;
  return total_params() - unused;
}

Bytes ModelSpec::kv_bytes_per_token(DType kv) const {
  return Bytes(2.0 * layers * kv_heads * head_dim * dtype_bytes(kv));
}

namespace {

// One reader for both formats: a getter that returns the integer for a key, or absent.
template <class Get>
ModelSpec build(const std::filesystem::path& path, Get get_int, bool tie, std::string type) {
  ModelSpec m;
  m.source = path.string();
  m.name = path.stem().string();
  if (m.name == "config") m.name = path.parent_path().filename().string();
  m.model_type = std::move(type);
  auto require = [&](const char* key) {
    auto v = get_int(key);
    if (!v) {
      throw Error(fmt::format("{}: missing required key \"{}\" (a model file needs hidden_size, "
                              "intermediate_size, num_hidden_layers, num_attention_heads, "
                              "vocab_size, max_position_embeddings)",
                              path.string(), key));
    }
    if (*v <= 0) throw Error(fmt::format("{}: \"{}\" must be positive, got {}", path.string(), key, *v));
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
  m.tie_embeddings = tie;
  m.attention_bias = m.model_type == "qwen2";
  if (get_int("num_local_experts")) {
    m.experts = require("num_local_experts");
    m.experts_per_token = get_int("num_experts_per_tok") ? require("num_experts_per_tok") : 2;
  }
  if (m.heads % m.kv_heads != 0) {
    throw Error(fmt::format("{}: num_attention_heads ({}) must be a multiple of "
                            "num_key_value_heads ({})",
                            path.string(), m.heads, m.kv_heads));
  }
  return m;
}

}  // namespace

ModelSpec load_model_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    throw Error(fmt::format("model file {} does not exist", path.string()));
  }
  if (path.extension() == ".json") {
    std::ifstream in(path);
    nlohmann::json j;
    try {
      in >> j;
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
    }
    auto get = [&](const char* key) -> std::optional<long long> {
      if (!j.contains(key) || j[key].is_null()) return std::nullopt;
      if (!j[key].is_number_integer()) {
        throw Error(fmt::format("{}: \"{}\" must be an integer", path.string(), key));
      }
      return j[key].get<long long>();
    };
    const bool tie = j.value("tie_word_embeddings", false);
    return build(path, get, tie, j.value("model_type", std::string{}));
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
  const bool tie = t["tie_word_embeddings"].value_or(false);
  return build(path, get, tie, t["model_type"].value_or(std::string{}));
}

}  // namespace servesim
