#include <gtest/gtest.h>

#include "models/model_spec.hpp"
#include "sim/core/error.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

// Published parameter counts (model cards): our count from the config must land within 0.5%.
struct Published {
  const char* name;
  double params_billion;
};

TEST(ModelSpec, ParameterCountsMatchPublishedFigures) {
  for (const Published& p : {Published{"llama-2-7b", 6.74}, Published{"llama-2-70b", 68.98},
                             Published{"llama-3-8b", 8.03}, Published{"llama-3-70b", 70.55},
                             Published{"mistral-7b", 7.24}, Published{"qwen2.5-7b", 7.62},
                             Published{"mixtral-8x7b", 46.70}, Published{"llama-3.1-405b", 405.0}}) {
    const ModelSpec m = catalog().model(p.name, true);  // mistral-7b: its sliding window is not modelled
    EXPECT_NEAR(m.total_params() / 1e9, p.params_billion, p.params_billion * 0.005) << p.name;
  }
}

// The models capacity planners ask about, against their cards (to the card's rounding) and,
// where the card rounds coarsely, Hugging Face's safetensors count. Each catalog file cites
// its source.
TEST(ModelSpec, PlannersCatalogModelsMatchTheirCards) {
  struct Card {
    const char* name;
    double total;          // billions, model card
    double non_embedding;  // billions, model card (0: not given)
    double tolerance;      // fraction
  };
  for (const Card& c : {Card{"llama-3.1-8b", 8.03, 0, 0.005}, Card{"llama-3.1-70b", 70.6, 0, 0.005},
                        Card{"llama-3.1-405b", 405.0, 0, 0.005},
                        // Qwen2.5 cards: 14.7B / 13.1B, 32.5B / 31.0B, 72.7B / 70.0B; the 32B's
                        // safetensors metadata says 32.8B, the card rounds down (1% allowed).
                        Card{"qwen2.5-14b", 14.7, 13.1, 0.01}, Card{"qwen2.5-32b", 32.5, 31.0, 0.01},
                        Card{"qwen2.5-72b", 72.7, 70.0, 0.005},
                        Card{"mistral-nemo-12b", 12.2, 0, 0.005}}) {
    const ModelSpec m = catalog().model(c.name);
    EXPECT_NEAR(m.total_params() / 1e9, c.total, c.total * c.tolerance) << c.name;
    if (c.non_embedding > 0) {
      // Non-embedding: everything but the input embedding and the (untied) LM head.
      const double embed = 2.0 * m.vocab * static_cast<double>(m.hidden);
      EXPECT_NEAR((m.total_params() - embed) / 1e9, c.non_embedding, c.non_embedding * c.tolerance)
          << c.name;
    }
  }
  // Llama 3.1 is Llama 3 with a 128k context: the same shapes, 16x the positions.
  EXPECT_DOUBLE_EQ(catalog().model("llama-3.1-8b").total_params(), 8030261248.0);
  EXPECT_EQ(catalog().model("llama-3.1-8b").max_context, 131072);
  // Mistral NeMo's head_dim (128) is given, not hidden / heads (160): q is 32 x 128 = 4,096 wide.
  EXPECT_EQ(catalog().model("mistral-nemo-12b").head_dim, 128);
}

TEST(ModelSpec, Llama3EightBParametersByHand) {
  const ModelSpec m = catalog().model("llama-3-8b");
  // Per layer: q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 + MLP 3*4096*14336 + 2 norms 2*4096
  //          = 16,777,216 + 8,388,608 + 16,777,216 + 176,160,768 + 8,192 = 218,112,000.
  // 32 layers = 6,979,584,000; embeddings and untied LM head 2 * 128256 * 4096 = 1,050,673,152;
  // final norm 4096. Total 8,030,261,248.
  EXPECT_DOUBLE_EQ(m.total_params(), 8030261248.0);
}

TEST(ModelSpec, MixtralActiveParametersUseTopTwoExperts) {
  const ModelSpec m = catalog().model("mixtral-8x7b");
  // 6 of 8 experts idle per token: 6 * 3 * 4096 * 14336 * 32 layers = 33.8B fewer than total;
  // Mistral AI quotes 12.9B active of 46.7B.
  EXPECT_NEAR(m.active_params() / 1e9, 12.9, 0.1);
}

TEST(ModelSpec, KvBytesPerTokenMatchReferenceTable) {
  // 2 * layers * kv_heads * head_dim * 2 bytes (bf16).
  const struct {
    const char* name;
    double kib;
  } rows[] = {{"llama-2-7b", 512}, {"llama-2-70b", 320}, {"llama-3-8b", 128},
              {"llama-3-70b", 320}, {"mistral-7b", 128}, {"qwen2.5-7b", 56},
              {"mixtral-8x7b", 128}};
  for (const auto& r : rows) {
    EXPECT_DOUBLE_EQ(catalog().model(r.name, true).kv_bytes_per_token(DType::kBF16).value, r.kib * 1024)
        << r.name;
  }
}

TEST(ModelSpec, ReadsARealConfigJson) {
  const std::string path = testing::write_temp("config.json", R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rope_scaling": {"factor": 8.0, "rope_type": "llama3"}, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16"})");
  const ModelSpec m = catalog().model(path);
  EXPECT_EQ(m.max_context, 131072);
  EXPECT_DOUBLE_EQ(m.total_params(), 8030261248.0);  // same shapes as Llama-3-8B
}

TEST(ModelSpec, MissingKeyIsAClearError) {
  const std::string path =
      testing::write_temp("broken.json", R"({"model_type": "llama", "hidden_size": 4096})");
  try {
    catalog().model(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("intermediate_size"), std::string::npos) << e.what();
  }
}

TEST(ModelSpec, Qwen2MoeParametersByHandAgainstTheModelCard) {
  const ModelSpec m = catalog().model("qwen1.5-moe-a2.7b");
  EXPECT_EQ(m.model_type, "qwen2_moe");
  EXPECT_EQ(m.moe_layers(), 24);
  // Per layer (hidden 2048, 16 heads of 128, q/k/v biases):
  //   attention 4 * 2048 * 2048 + 3 * 2048          =  16,783,360
  //   60 experts x 3 * 2048 * 1408                  = 519,045,120
  //   router 2048 * 60                              =     122,880
  //   shared expert 3 * 2048 * 5632 + its gate 2048 =  34,605,056
  //   2 norms                                       =       4,096
  //                                                 = 570,560,512
  // x 24 layers = 13,693,452,288; embeddings and LM head 2 * 151,936 * 2048 = 622,329,856;
  // final norm 2048: 14,315,784,192. The card says 14.3B.
  EXPECT_DOUBLE_EQ(m.total_params(), 14315784192.0);
  // Active: 56 idle experts a layer, 56 * 3 * 2048 * 1408 * 24 = 11,626,610,688 fewer:
  // 2,689,173,504. The card says 2.7B.
  EXPECT_DOUBLE_EQ(m.active_params(), 2689173504.0);
  // KV: 2 * 24 * 16 * 128 * 2 bytes = 196,608 B a token.
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(DType::kBF16).value, 196608.0);
}

TEST(ModelSpec, MoeFamiliesAgainstPublishedCounts) {
  const struct {
    const char* name;
    double total, active;  // billions, as published
    double tolerance;      // relative
  } rows[] = {
      {"qwen3-30b-a3b", 30.5, 3.3, 0.02},  // card: 30.5B total, 3.3B active
      {"deepseek-v3", 671.0, 36.7, 0.025},  // README_WEIGHTS.md: 671B, 36.7B (we count 37.55B)
  };
  for (const auto& r : rows) {
    const ModelSpec m = catalog().model(r.name);
    EXPECT_NEAR(m.total_params() / 1e9, r.total, r.total * r.tolerance) << r.name;
    EXPECT_NEAR(m.active_params() / 1e9, r.active, r.active * r.tolerance) << r.name;
  }
  // DeepSeek-V3's total by hand, in millions of parameters per layer (hidden 7168, 128 heads):
  // MLA q 7168 * 1536 + 1536 + 1536 * 128 * 192, kv 7168 * 576 + 512 + 512 * 128 * 256, o
  // 128 * 128 * 7168: 187.11M; MoE layer 256 * 3 * 7168 * 2048 + router 7168 * 256 + shared
  // 3 * 7168 * 2048: 11,318.3M; dense layer 3 * 7168 * 18432: 396.4M. 61 * (187.11 + norms)
  // + 58 * 11,318.3 + 3 * 396.4 + embeddings 2 * 129,280 * 7168 = 671,026.4M.
  EXPECT_NEAR(catalog().model("deepseek-v3").total_params(), 671026404352.0, 1.0);
}

TEST(ModelSpec, MlaKvBytesPerTokenMatchThePublishedFigure) {
  // DeepSeek-V2 paper, Table 1: MLA caches (d_c + d_h^R) * l elements a token, d_c =
  // kv_lora_rank 512, d_h^R = qk_rope_head_dim 64. V3: 61 layers * 576 * 2 bytes = 70,272 B
  // (the V3 hardware paper: "70 KB" a token). Not split by tensor parallelism: every rank holds
  // the whole latent.
  const ModelSpec v3 = catalog().model("deepseek-v3");
  EXPECT_TRUE(v3.mla);
  EXPECT_EQ(v3.kv_heads, 1);
  EXPECT_DOUBLE_EQ(v3.kv_bytes_per_token(DType::kBF16).value, 70272.0);
  // V2-Lite: 27 layers * 576 * 2 = 31,104 B.
  EXPECT_DOUBLE_EQ(catalog().model("deepseek-v2-lite").kv_bytes_per_token(DType::kBF16).value,
                   31104.0);
  // Against MHA of the same heads: 2 * 61 * 128 * 128 * 2 = 3,997,696 B, 56.9 times more.
}

TEST(ModelSpec, AnArchitectureServesimDoesNotModelIsRefusedByName) {
  const std::string gpt2 = testing::write_temp("gpt2.json", R"({
    "model_type": "gpt2", "hidden_size": 768, "intermediate_size": 3072,
    "num_hidden_layers": 12, "num_attention_heads": 12, "vocab_size": 50257,
    "max_position_embeddings": 1024})");
  const std::string msg = testing::error_of([&] { catalog().model(gpt2); });
  EXPECT_HAS(msg, "model_type \"gpt2\" is an architecture servesim does not model");
  EXPECT_HAS(msg, "qwen2_moe");
  const std::string none = testing::write_temp("none.json", R"({"hidden_size": 768})");
  EXPECT_HAS(testing::error_of([&] { catalog().model(none); }), "missing \"model_type\"");
  // A Qwen2-MoE config without its expert keys is an error, not a dense model.
  const std::string partial = testing::write_temp("qwen_moe.json", R"({
    "model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
    "num_hidden_layers": 24, "num_attention_heads": 16, "vocab_size": 151936,
    "max_position_embeddings": 8192})");
  EXPECT_HAS(testing::error_of([&] { catalog().model(partial); }),
             "missing required key \"num_experts\" (a qwen2_moe model file needs it)");
}

TEST(ModelSpec, QwenMoeDenseLayersFollowSparseStepAndMlpOnlyLayers) {
  // 8 layers, decoder_sparse_step 2: layers 1, 3, 5, 7 are MoE ((i + 1) % 2 == 0); layer 3
  // is also listed in mlp_only_layers: 3 MoE layers, 5 dense.
  const std::string path = testing::write_temp("sparse.json", R"({
    "model_type": "qwen2_moe", "hidden_size": 256, "intermediate_size": 512,
    "num_hidden_layers": 8, "num_attention_heads": 4, "vocab_size": 1000,
    "max_position_embeddings": 4096, "num_experts": 8, "num_experts_per_tok": 2,
    "moe_intermediate_size": 128, "decoder_sparse_step": 2, "mlp_only_layers": [3]})");
  const ModelSpec m = catalog().model(path);
  EXPECT_EQ(m.moe_layers(), 3);
  EXPECT_EQ(m.dense_layers, 5);
}

TEST(ModelSpec, UnknownCatalogNameListsValidNames) {
  try {
    catalog().model("llama-9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama-3-8b"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace servesim
