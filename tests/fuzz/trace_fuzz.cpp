// A trace file: CSV when the first byte is 'c', JSONL otherwise (the rest of the input is
// the file). Every row read has a finite, non-negative arrival and lengths of at least zero.
#include "sim/core/error.hpp"
#include "sim/workload/workload.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  if (size == 0) return 0;
  const bool csv = data[0] == 'c';
  const std::string path = fuzz::write(csv ? "trace.csv" : "trace.jsonl",
                                       std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  try {
    for (const RequestSpec& r : read_trace(path)) {
      if (r.arrival.ns < 0) fuzz::nonsense("a negative arrival");
      if (r.prompt_tokens < 0 || r.output_tokens < 0) fuzz::nonsense("a negative length");
    }
  } catch (const Error&) {
  }
  return 0;
}
