// `servesim report`: one self-contained HTML page (inline CSS and SVG, no scripts, no
// external URLs) from a run, sweep or plan output folder.
#pragma once

#include <string>

namespace servesim {

enum class OutputKind { kRun, kSweep, kPlan, kCompare };

// A run folder has summary.json and requests.csv; a sweep folder sweep.csv; a plan folder
// plan.json; a compare folder compare.json. Throws Error for a missing folder or one with none of them.
OutputKind detect_output(const std::string& dir);

// The page for the folder. Throws Error for unreadable or malformed files.
std::string report_html(const std::string& dir);

}  // namespace servesim
