// A sweep's files: sweep.csv and sweep.json (every point), pareto.csv (the frontier), the text
// table, and reading sweep.json back so that shards can be merged.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "sim/sweep/analysis.hpp"
#include "sim/sweep/sweep.hpp"

namespace servesim {

// A finite number as JSON, anything else (NaN: not measured) as null.
nlohmann::ordered_json json_number(double v);

// point, one column per axis (named by its key), seeds, gpus, the metrics, with several seeds
// each metric's _ci95, then error. Numbers are written exactly (shortest round-trip form).
void write_sweep_csv(std::ostream& out, const SweepResult& sweep);
// `analysis` is null for one shard of a sweep: the frontier needs every point.
nlohmann::ordered_json sweep_json(const SweepResult& sweep, const SweepAnalysis* analysis);
void write_pareto_csv(std::ostream& out, const SweepResult& sweep, const SweepAnalysis& a);
void write_sweep_text(std::ostream& out, const SweepResult& sweep, const SweepAnalysis& a,
                      std::size_t max_rows);

// Reads what sweep_json wrote; `where` names the file in errors.
SweepResult sweep_from_json(const nlohmann::json& j, const std::string& where);
// Joins the shards of one sweep into the whole. They must agree on scenario, axes and seeds,
// and hold every point exactly once.
SweepResult merge_sweeps(std::vector<SweepResult> shards);

}  // namespace servesim
