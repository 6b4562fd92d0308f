// A run's timeline in the Chrome trace event format (JSON), which ui.perfetto.dev and
// chrome://tracing open: per replica a track of iterations, nested spans for each request's
// life (queued, prefill, decode) and counters for KV-cache use and queue length. docs/outputs.md
// describes every track and event.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "sim/core/units.hpp"
#include "sim/cluster/simulator.hpp"

namespace servesim {

// The stretch of simulated time a trace covers, [start, end). The default is the whole run.
struct TraceWindow {
  SimTime start{0};
  SimTime end = SimTime::never();
};

// Reads `--trace-window`'s START:END, in seconds of simulated time; either side may be empty
// ("10:" from 10 s to the end, ":5" the first 5 s). Throws Error naming the option and the
// valid form when the text is not two numbers, a side is negative or END is not after START.
TraceWindow parse_trace_window(const std::string& text);

// Writes the events that overlap `window`; spans that cross an edge are cut at it and carry
// "clipped": true. The iteration track and the counters need RunResult::iterations
// (Simulator::record_iterations). Returns the number of trace events written.
std::int64_t write_chrome_trace(std::ostream& out, const RunResult& run,
                                const TraceWindow& window = {});

}  // namespace servesim
