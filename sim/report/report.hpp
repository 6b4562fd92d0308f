// What a run and a step look like to a person (text) and to a script (JSON, CSV).
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "hardware/cost_model.hpp"
#include "sim/metrics/summary.hpp"

namespace servesim {

// The label every multi-GPU figure carries until a multi-GPU campaign has measured one.
inline constexpr const char* kNotMeasuredHere =
    "not measured here (collectives from the catalog's link figures, checked against public "
    "measurements only: docs/validation.md)";

// {tp, pp, ep, crosses_nodes}: a replica's layout, as summary.json's pools and step --json
// give it.
nlohmann::ordered_json parallelism_json(Parallelism par, bool crosses_nodes);

nlohmann::ordered_json summary_json(const RunResult& run, const Summary& s);
// The request-level blocks of summary.json (requests, simulated_seconds, span_s, throughput,
// latency_ms, slo) and its load block: what a simulated and a measured run's summaries share.
void add_request_metrics(nlohmann::ordered_json& j, const Summary& s, const SloConfig& slo);
void add_load_json(nlohmann::ordered_json& j, const Summary& s);
void write_text_report(std::ostream& out, const RunResult& run, const Summary& s);
// One row per request: id, arrival, times, tokens, state, reason; written from the run's
// metric table (request_records), as its summary is.
void write_requests_csv(std::ostream& out, const RunResult& run);
// The same columns for a measured run's records (replica 0, pool "measured", no breakdown).
void write_requests_csv(std::ostream& out, const std::vector<RequestRecord>& records);
// The run's requests as a replayable trace: arrival_s, prompt_tokens, output_tokens, warmup.
void write_trace_csv(std::ostream& out, const RunResult& run);
// One row per iteration (RunResult::iterations): replica, start, end, batch, KV, queue.
void write_iterations_csv(std::ostream& out, const RunResult& run);
// The busiest links' use over time (at most `links` of them, busiest first): one row per link
// and time bin of the recorded series. Nothing when the run had no network or recorded none.
void write_links_csv(std::ostream& out, const RunResult& run, std::size_t links = 8);

// `calibration` says which cost parameters were used.
nlohmann::ordered_json step_json(const StepCostModel& model, const BatchShape& shape,
                                 const StepCost& cost, const std::string& calibration);
void write_step_text(std::ostream& out, const StepCostModel& model, const BatchShape& shape,
                     const StepCost& cost, const std::string& calibration);

}  // namespace servesim
