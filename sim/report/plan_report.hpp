// What `servesim plan` prints and writes: the ranked table, plan.json, plan.csv and plan.svg
// (cost against SLO headroom).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sim/sweep/plan.hpp"

namespace servesim {

void write_plan_text(std::ostream& out, const PlanResult& plan, double seconds);
nlohmann::ordered_json plan_json(const PlanResult& plan);
void write_plan_csv(std::ostream& out, const PlanResult& plan);
std::string plan_svg(const PlanResult& plan);

}  // namespace servesim
