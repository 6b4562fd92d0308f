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
                             Published{"mixtral-8x7b", 46.70}}) {
    const ModelSpec m = catalog().model(p.name);
    EXPECT_NEAR(m.total_params() / 1e9, p.params_billion, p.params_billion * 0.005) << p.name;
  }
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
    EXPECT_DOUBLE_EQ(catalog().model(r.name).kv_bytes_per_token(DType::kBF16).value, r.kib * 1024)
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
  const std::string path = testing::write_temp("broken.json", R"({"hidden_size": 4096})");
  try {
    catalog().model(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("intermediate_size"), std::string::npos) << e.what();
  }
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
