// The plots of one run and of one sweep, built from the files `servesim run --out` and
// `servesim sweep` write (read back, so a report can be made from any saved folder).
#pragma once

#include <string>
#include <vector>

#include "sim/core/csv_table.hpp"
#include "sim/report/plot.hpp"

namespace servesim {

// A plot as the report shows it: an HTML id, a caption, and the figure.
struct ReportFigure {
  std::string id;
  std::string caption;
  plot::Figure figure;
};

// One row of requests.csv (the columns the plots use).
struct RequestRow {
  int replica = -1;  // -1: rejected, or answered by the response cache
  double arrival_s = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  bool done = false;
  double ttft_ms = -1, e2e_ms = -1, tpot_ms = -1;  // -1: never happened
  int preemptions = 0;
};
// One row of iterations.csv.
struct IterationRow {
  int replica = 0;
  double start_s = 0, end_s = 0;
  int decode_seqs = 0;
  double kv_used = 0;  // fraction of the replica's KV blocks
  int waiting = 0;
};

std::vector<RequestRow> read_requests(const CsvTable& table);
std::vector<IterationRow> read_iterations(const CsvTable& table);

// Series longer than this are reduced (CDFs to quantiles, timelines to bucket maxima).
inline constexpr std::size_t kMaxPlotPoints = 2000;

// CDF of one latency of the done requests: "ttft", "tpot" or "e2e".
ReportFigure latency_cdf_figure(const std::vector<RequestRow>& requests, const std::string& metric);
ReportFigure ttft_by_prompt_figure(const std::vector<RequestRow>& requests);

// Inter-token latency by token position, reconstructed from the iteration log.
struct ItlByPosition {
  std::vector<double> position;  // middle of each position bin (token 2 is the first gap)
  std::vector<double> mean_ms, p90_ms;
  std::size_t bin_width = 1;
  std::size_t requests_used = 0;
  std::size_t requests_skipped = 0;  // eligible, but their token count did not match
};
// Each done request that was routed, never preempted, and has at least two tokens: token 1
// at arrival + TTFT, then one token at the end of each iteration of its replica that decoded
// (decode_seqs > 0) after that, up to arrival + E2E. A request is used only when that gives
// exactly output_tokens - 1 later tokens.
ItlByPosition itl_by_position(const std::vector<RequestRow>& requests,
                              const std::vector<IterationRow>& iterations);
ReportFigure itl_by_position_figure(const ItlByPosition& itl);

// KV-cache use (%) or queue length (waiting requests) over time, one series per replica.
ReportFigure kv_use_figure(const std::vector<IterationRow>& iterations);
ReportFigure queue_figure(const std::vector<IterationRow>& iterations);

// Each link's use (% of capacity) over time, from links.csv: one series per link.
ReportFigure link_use_figure(const CsvTable& links);

// All plots of a run folder: from requests.csv, and from iterations.csv and links.csv when
// present.
std::vector<ReportFigure> run_figures(const std::string& dir);

// A compare folder's plots (servesim compare --out: a/ and b/ hold the two runs' files): CDF
// overlays of TTFT, TPOT and ITL, and TTFT against prompt length, A and B on the same axes.
// `a_label`, `b_label` name them in the legends.
std::vector<ReportFigure> compare_figures(const std::string& dir, const std::string& a_label,
                                          const std::string& b_label);

// The columns of sweep.csv strictly between `point` and `seeds`: the varied scenario keys.
std::vector<std::string> sweep_keys(const CsvTable& sweep);
// Throughput and latency against workload.rate, one series per combination of the other
// varied keys; none when the rate was not varied.
std::vector<ReportFigure> sweep_figures(const CsvTable& sweep);
// Whether `values` (three or more distinct, all positive) grow by one constant factor, as
// a --vary a:b:xF range does: such an axis is drawn on a log scale.
bool geometric(std::vector<double> values);

}  // namespace servesim
