// Model intake: a config.json is recognised by model_type or architectures; fields that change
// cost but are not modelled are refused by name unless model.allow_approximate, and then the
// report lists them.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "hardware/cost_model.hpp"
#include "sim/engine/decode_pool.hpp"

#include "sim/cluster/deployment.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::error_of;

// Llama-3-8B's shapes, with `extra` JSON members added (a leading comma included).
std::string llama_json(const std::string& extra) {
  return R"({"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 8192)" + extra + "}";
}

ModelSpec read(const std::string& name, const std::string& json, bool allow = false) {
  return load_model_file(testing::write_temp(name + ".json", json), allow);
}

TEST(ModelIntake, ArchitecturesAloneNameTheFamily) {
  const ModelSpec m = read("arch", llama_json(R"(, "architectures": ["LlamaForCausalLM"])"));
  EXPECT_EQ(m.model_type, "llama");
  EXPECT_DOUBLE_EQ(m.total_params(), 8030261248.0);  // Llama-3-8B's count
  const ModelSpec phi = read("phi", llama_json(R"(, "architectures": ["Phi3ForCausalLM"])"));
  EXPECT_EQ(phi.model_type, "phi3");
  EXPECT_HAS(error_of([] {
               read("clash", llama_json(R"(, "model_type": "qwen2", "architectures": ["LlamaForCausalLM"])"));
             }),
             "model_type \"qwen2\" and architectures [\"LlamaForCausalLM\"] name different families");
}

TEST(ModelIntake, AnUnknownArchitectureIsRefusedOrReadApproximately) {
  const std::string json = llama_json(
      R"(, "model_type": "falcon_mamba", "architectures": ["FalconMambaForCausalLM"], "ssm_state_size": 16, "rope_theta": 10000.0)");
  const std::string e = error_of([&] { read("unknown", json); });
  EXPECT_HAS(e, "model_type \"falcon_mamba\" is an architecture servesim does not model");
  EXPECT_HAS(e, "llama, mistral");
  EXPECT_HAS(e, "model.allow_approximate = true");
  const ModelSpec m = read("unknown", json, true);
  ASSERT_EQ(m.approximations.size(), 1u);
  // ssm_state_size is named; rope_theta changes no cost and is not.
  EXPECT_HAS(m.approximations[0], "read as a dense Llama-like decoder; fields ignored: ssm_state_size");
  EXPECT_EQ(m.approximations[0].find("rope_theta"), std::string::npos);
}

TEST(ModelIntake, CostFieldsAFamilyIsNotReadWithAreNamed) {
  // Experts on a family read as dense.
  const std::string moe = llama_json(R"(, "model_type": "llama", "num_local_experts": 8, "num_experts_per_tok": 2)");
  const std::string e = error_of([&] { read("moe", moe); });
  EXPECT_HAS(e, "llama fields servesim does not model, or models only in part: num_local_experts = 8 (experts on a family read as dense)");
  EXPECT_HAS(e, "num_experts_per_tok = 2");
  const ModelSpec m = read("moe", moe, true);
  EXPECT_FALSE(m.is_moe());
  EXPECT_EQ(m.approximations.size(), 2u);
  // MLP biases.
  EXPECT_HAS(error_of([] { read("bias", llama_json(R"(, "model_type": "llama", "mlp_bias": true)")); }),
             "mlp_bias = true");
  // q/k/v biases are modelled: 4096 + 2 x 1024 per layer more parameters.
  const ModelSpec qkv = read("qkv", llama_json(R"(, "model_type": "llama", "attention_bias": true)"));
  EXPECT_DOUBLE_EQ(qkv.total_params() - 8030261248.0, 32.0 * (4096 + 2 * 1024));
}

TEST(ModelIntake, ASlidingWindowShorterThanTheContextNeedsAllowApproximate) {
  const std::string sw = llama_json(R"(, "model_type": "mistral", "sliding_window": 4096)");
  EXPECT_HAS(error_of([&] { read("sw", sw); }), "sliding_window = 4096 on 32 of 32 layers");
  EXPECT_EQ(read("sw", sw, true).window_layers, 32);
  // Switched off, or as long as the context: nothing to approximate.
  EXPECT_TRUE(read("sw_off", llama_json(R"(, "model_type": "qwen2", "sliding_window": 4096, "use_sliding_window": false)"))
                  .approximations.empty());
  EXPECT_TRUE(read("sw_long", llama_json(R"(, "model_type": "mistral", "sliding_window": 8192)"))
                  .approximations.empty());
  EXPECT_TRUE(read("sw_null", llama_json(R"(, "model_type": "mistral", "sliding_window": null)"))
                  .approximations.empty());
}

TEST(ModelIntake, GemmaTiesItsEmbeddingAndNormsFourTimesALayer) {
  // google/gemma-2-27b: embedding 256,000 x 4,608 = 1,179,648,000 once (tied); per layer q and
  // o 2 x 4,608 x 4,096, k and v 2 x 4,608 x 2,048, MLP 3 x 4,608 x 36,864 and four norms
  // 4 x 4,608: 566,259,712; x 46 layers + the final norm: 27,227,128,320 (card: 27.2B).
  const ModelSpec g = catalog().model("gemma-2-27b", true);
  EXPECT_TRUE(g.tie_embeddings);
  EXPECT_EQ(g.norms_per_layer, 4);
  EXPECT_DOUBLE_EQ(g.total_params(), 27227128320.0);
  EXPECT_NEAR(g.total_params() / 1e9, 27.2, 27.2 * 0.005);
  // Every other layer attends over a 4,096-key window: layers 0, 2, ..., 44, 23 of 46.
  EXPECT_EQ(g.sliding_window, 4096);
  EXPECT_EQ(g.window_layers, 23);
  // Its window needs the flag (the KV cache is kept whole).
  EXPECT_HAS(error_of([] { catalog().model("gemma-2-27b"); }), "sliding_window = 4096");
  // A gemma2 config.json without tie_word_embeddings ties them, as Gemma2Config does.
  const ModelSpec j = read("gemma", llama_json(R"(, "model_type": "gemma2")"));
  EXPECT_TRUE(j.tie_embeddings);
  EXPECT_EQ(j.norms_per_layer, 4);
}

TEST(ModelIntake, TheReportListsWhatWasIgnored) {
  const std::string toml = R"(
[model]
name = "mistral-7b"
allow_approximate = true
[hardware]
gpu = "h100-sxm"
[workload]
requests = 20
rate = 2
prompt_tokens = 200
output_tokens = 20
)";
  const RunResult r = testing::simulate("approx", toml);
  const Summary s = summarize(r);
  std::ostringstream text;
  write_text_report(text, r, s);
  EXPECT_HAS(text.str(), "APPROXIMATE model ignored: sliding_window = 4096");
  const nlohmann::ordered_json j = summary_json(r, s);
  ASSERT_EQ(j["scenario"]["model_approximations"].size(), 1u);
  EXPECT_HAS(j["scenario"]["model_approximations"][0].get<std::string>(), "sliding_window = 4096");
  // Without the flag the scenario is refused, naming the field and the flag.
  const std::string e = error_of([&] {
    testing::simulate("approx-off", toml, {"model.allow_approximate=false"});
  });
  EXPECT_HAS(e, "sliding_window = 4096");
  EXPECT_HAS(e, "model.allow_approximate = true");
}

TEST(SlidingWindow, PrefillPairsAndDecodeContextsAreCappedByHand) {
  BatchShape s;
  s.window = 4;
  // 10 new tokens, nothing cached: queries see 1, 2, 3, 4 and then 4 keys: 10 + 6 x 4 = 34.
  s.add_prefill(10, 0);
  EXPECT_DOUBLE_EQ(s.prefill_pairs_w, 34.0);
  // 5 after 2 cached: 3, 4, 4, 4, 4 = 19 more; the cached keys read: min(2, 4) = 2.
  s.add_prefill(5, 2);
  EXPECT_DOUBLE_EQ(s.prefill_pairs_w, 53.0);
  EXPECT_DOUBLE_EQ(s.prefill_ctx_w, 2.0);
  // Decodes over 3 and 9 keys: 3 + 4 = 7, squares 9 + 16 = 25.
  s.add_decode(3);
  s.add_decode(9);
  EXPECT_DOUBLE_EQ(s.decode_ctx_w, 7.0);
  EXPECT_DOUBLE_EQ(s.decode_ctx_w_sq, 25.0);
}

TEST(SlidingWindow, TheDecodePoolsCappedSumsMatchABruteForceCount) {
  // Random joins, steps and preemptions; after each, the pool's window-capped sums equal the
  // sum over its members of min(context, W) and its square, counted one by one.
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    const std::int64_t window = 50;
    DecodePool pool(16, window);
    std::map<std::uint32_t, std::pair<std::int64_t, std::int64_t>> members;  // tokens, final
    std::uint32_t next = 0;
    for (int t = 0; t < 400; ++t) {
      const int action = static_cast<int>(rng() % 4);
      if (action == 0 || members.empty()) {
        const std::int64_t tokens = 1 + static_cast<std::int64_t>(rng() % 80);
        const std::int64_t final = tokens + 1 + static_cast<std::int64_t>(rng() % 60);
        pool.join(next, tokens, final, SimTime{});
        members[next++] = {tokens, final};
      } else if (action == 1) {
        const DecodePool::Removed r = pool.pop_newest();
        members.erase(r.request);
      } else {
        pool.step(SimTime{}, [](auto, auto) {}, [&](const DecodePool::Removed& r) { members.erase(r.request); });
        for (auto& [id, m] : members) ++m.first;
      }
      double sum = 0.0, sq = 0.0;
      for (const auto& [id, m] : members) {
        const double c = static_cast<double>(std::min(m.first, window));
        sum += c;
        sq += c * c;
      }
      ASSERT_DOUBLE_EQ(pool.window_context_sum(), sum) << "seed " << seed << " at " << t;
      ASSERT_DOUBLE_EQ(pool.window_context_sum_sq(), sq) << "seed " << seed << " at " << t;
    }
  }
}

TEST(SlidingWindow, WindowedLayersCostWhatTheWindowHolds) {
  // mistral-7b has Llama-3-8B's attention shapes (32 query heads, 8 KV heads, head dim 128) and
  // a 4,096-key window on every layer: decoding at 16,000 cached tokens costs what Llama-3-8B
  // pays at 4,095 cached (4,096 keys with the new token).
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  auto attention = [&](const ModelSpec& m, std::int64_t ctx) {
    const StepCostModel c(m, gpu, catalog().link("nvlink4"), Parallelism{1}, RuntimeOptions{}, gpu.defaults);
    BatchShape s;
    s.window = m.attention_window();
    for (int i = 0; i < 8; ++i) s.add_decode(ctx + 1);
    double t = 0.0;
    for (const OpTime& o : c.breakdown(s).ops) {
      if (o.op.cls == OpClass::kAttentionDecode) t += o.time.value;
    }
    return t;
  };
  const ModelSpec mistral = catalog().model("mistral-7b", true);
  const ModelSpec llama = catalog().model("llama-3-8b");
  EXPECT_DOUBLE_EQ(attention(mistral, 16000), attention(llama, 4095));
  EXPECT_GT(attention(llama, 16000), 3.5 * attention(llama, 4095));  // ~3.9x the keys
  // Gemma 2: 23 of 46 layers local, the rest over the whole context.
  const ModelSpec gemma = catalog().model("gemma-2-27b", true);
  ModelSpec no_window = gemma;
  no_window.window_layers = 0;
  const double full = attention(no_window, 8000);
  const double mixed = attention(gemma, 8000);
  // 23 layers at 8,001 keys and 23 at 4,096: (8001 + 4096) / (2 x 8001) = 0.756 of the bytes,
  // less the fixed per-kernel times that do not shrink.
  EXPECT_NEAR(mixed / full, 0.756, 0.03);
}

}  // namespace
}  // namespace servesim
