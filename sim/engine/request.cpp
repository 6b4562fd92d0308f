#include "sim/engine/request.hpp"

namespace servesim {

std::string reject_reason_text(RejectReason r) {
  switch (r) {
    case RejectReason::kNone: return "";
    case RejectReason::kLongerThanContext: return "prompt + output exceed the model's context window";
    case RejectReason::kLongerThanMaxModelLen: return "prompt + output exceed engine.max_model_len";
    case RejectReason::kLongerThanKvCache: return "sequence does not fit in the replica's KV cache";
    case RejectReason::kPromptOverBatch:
      return "prompt exceeds engine.max_num_batched_tokens (the scheduler does not split prompts)";
  }
  return "";
}

}  // namespace servesim
