#include "sim/report/run_plots.hpp"

#include <algorithm>
#include <optional>
#include <tuple>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/quantile_sketch.hpp"
#include "sim/metrics/summary.hpp"

namespace servesim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Times in the CSVs are written to the nanosecond; sums of them are compared within half.
constexpr double kTimeSlack = 0.5e-9;
// Scatter plots keep at most this many points (every n-th request, by id).
constexpr std::size_t kMaxScatterPoints = 5000;
// Timelines longer than kMaxPlotPoints become this many equal time buckets.
constexpr std::size_t kTimelineBuckets = 1000;
// ITL by position: at most this many position bins.
constexpr std::size_t kMaxPositionBins = 200;

plot::Series series(std::string label, plot::Mark mark, double opacity = 1.0) {
  plot::Series s;
  s.label = std::move(label);
  s.mark = mark;
  s.opacity = opacity;
  return s;
}

// A count or index read back from a folder: whole, and within what servesim writes (a
// replica's engine index is below 100,000 replicas x 256 stages; -1 where there is none).
int whole(const CsvTable& t, std::size_t row, const char* column, std::int64_t lo = 0,
          std::int64_t hi = 100'000'000) {
  return static_cast<int>(t.integer(row, column, lo, hi));
}
constexpr std::int64_t kMaxEngineIndex = 100'000LL * 256;

// A log axis when the values span more than `ratio` (and are all positive).
bool wide(const std::vector<double>& v, double ratio) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = 0;
  for (double x : v) {
    if (!std::isfinite(x)) continue;
    if (x <= 0) return false;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return hi > 0 && hi / lo > ratio;
}

// Indexes 0..n-1 reduced to at most m, evenly spaced, always keeping the first and last.
std::vector<std::size_t> even_picks(std::size_t n, std::size_t m) {
  std::vector<std::size_t> out;
  if (n <= m) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  for (std::size_t k = 0; k < m; ++k) {
    out.push_back(static_cast<std::size_t>(
        std::llround(static_cast<double>(k) * static_cast<double>(n - 1) / static_cast<double>(m - 1))));
  }
  return out;
}

struct Metric {
  const char* name;
  const char* title;
  double RequestRow::*field;
};

const Metric& latency_metric(const std::string& name) {
  static const Metric metrics[] = {
      {"ttft", "TTFT", &RequestRow::ttft_ms},
      {"tpot", "TPOT", &RequestRow::tpot_ms},
      {"e2e", "E2E", &RequestRow::e2e_ms},
  };
  for (const Metric& m : metrics) {
    if (name == m.name) return m;
  }
  throw Error(fmt::format("no latency CDF for \"{}\": valid values are: ttft, tpot, e2e", name));
}

// The iterations of each replica that ran any, by replica: memory follows the rows, not the
// largest index a file names.
std::map<int, std::vector<const IterationRow*>> by_replica(const std::vector<IterationRow>& iterations) {
  std::map<int, std::vector<const IterationRow*>> out;
  for (const auto& it : iterations) {
    if (it.replica >= 0) out[it.replica].push_back(&it);
  }
  return out;
}

// At most this many replicas' lines in a timeline (the first by index); the caption says so.
constexpr std::size_t kMaxTimelineLines = 64;

// One series per replica of `value` over time: a step line from each iteration's start, or
// when a replica has more than kMaxPlotPoints iterations, the maximum over each of
// kTimelineBuckets equal time buckets.
ReportFigure timeline_figure(const std::vector<IterationRow>& iterations,
                             double (*value)(const IterationRow&)) {
  ReportFigure out;
  out.figure.x_label = "time (s)";
  out.figure.y_from_zero = true;
  auto replicas = by_replica(iterations);
  double t0 = std::numeric_limits<double>::infinity();
  double t1 = -t0;
  for (const auto& it : iterations) {
    if (it.replica < 0) continue;
    t0 = std::min(t0, it.start_s);
    t1 = std::max(t1, it.end_s);
  }
  bool bucketed = false;
  std::size_t drawn = 0;
  for (auto& [r, rows] : replicas) {
    if (drawn++ == kMaxTimelineLines) break;
    std::stable_sort(rows.begin(), rows.end(),
                     [](const IterationRow* a, const IterationRow* b) { return a->start_s < b->start_s; });
    plot::Series s;
    s.label = fmt::format("replica {}", r);
    if (rows.size() <= kMaxPlotPoints) {
      s.mark = plot::Mark::kStep;
      for (const IterationRow* it : rows) {
        s.x.push_back(it->start_s);
        s.y.push_back(value(*it));
      }
      if (!rows.empty()) {  // hold the last value to the end of the last iteration
        s.x.push_back(rows.back()->end_s);
        s.y.push_back(value(*rows.back()));
      }
    } else {
      bucketed = true;
      const double width = (t1 - t0) / static_cast<double>(kTimelineBuckets);
      std::vector<double> peak(kTimelineBuckets, kNaN);
      for (const IterationRow* it : rows) {
        auto b = static_cast<std::size_t>(std::max(0.0, (it->start_s - t0) / width));
        b = std::min(b, kTimelineBuckets - 1);
        const double v = value(*it);
        if (std::isnan(peak[b]) || v > peak[b]) peak[b] = v;
      }
      for (std::size_t b = 0; b < kTimelineBuckets; ++b) {
        if (std::isnan(peak[b])) continue;
        s.x.push_back(t0 + (static_cast<double>(b) + 0.5) * width);
        s.y.push_back(peak[b]);
      }
    }
    out.figure.series.push_back(std::move(s));
  }
  if (bucketed) {
    out.caption = fmt::format(
        " Replicas with more than {} iterations are drawn as the maximum over each of {} equal "
        "time buckets.",
        kMaxPlotPoints, kTimelineBuckets);
  }
  if (replicas.size() > kMaxTimelineLines) {
    out.caption += fmt::format(" The first {} of the {} replicas are drawn.", kMaxTimelineLines,
                               replicas.size());
  }
  return out;
}

}  // namespace

std::vector<RequestRow> read_requests(const CsvTable& t) {
  std::vector<RequestRow> out(t.rows());
  for (std::size_t i = 0; i < t.rows(); ++i) {
    RequestRow& r = out[i];
    r.replica = whole(t, i, "replica", -1, kMaxEngineIndex);
    r.arrival_s = t.number(i, "arrival_s");
    r.prompt_tokens = whole(t, i, "prompt_tokens");
    r.output_tokens = whole(t, i, "output_tokens");
    r.done = t.text(i, "state") == "done";
    r.ttft_ms = t.number(i, "ttft_ms");
    r.e2e_ms = t.number(i, "e2e_ms");
    r.tpot_ms = t.number(i, "tpot_ms");
    r.preemptions = whole(t, i, "preemptions");
  }
  return out;
}

std::vector<IterationRow> read_iterations(const CsvTable& t) {
  std::vector<IterationRow> out(t.rows());
  for (std::size_t i = 0; i < t.rows(); ++i) {
    IterationRow& it = out[i];
    it.replica = whole(t, i, "replica", -1, kMaxEngineIndex);
    it.start_s = t.number(i, "start_s");
    it.end_s = t.number(i, "end_s");
    it.decode_seqs = whole(t, i, "decode_seqs");
    it.kv_used = t.number(i, "kv_used");
    it.waiting = whole(t, i, "waiting");
  }
  return out;
}

namespace {

// A distribution drawn as a step CDF: its values sorted, through at most kMaxPlotPoints ranks.
plot::Series cdf_series(const std::string& label, std::vector<double> v, int color) {
  std::sort(v.begin(), v.end());
  plot::Series s = series(label, plot::Mark::kStep);
  s.color = color;
  for (std::size_t i : even_picks(v.size(), kMaxPlotPoints)) {
    s.x.push_back(v[i]);
    s.y.push_back(static_cast<double>(i + 1) / static_cast<double>(v.size()));
  }
  return s;
}

}  // namespace

ReportFigure latency_cdf_figure(const std::vector<RequestRow>& requests, const std::string& metric) {
  const Metric& m = latency_metric(metric);
  std::vector<double> v;
  for (const auto& r : requests) {
    const double x = r.*m.field;
    if (r.done && x >= 0) v.push_back(x);
  }
  ReportFigure out;
  out.id = std::string(m.name) + "-cdf";
  plot::Figure& f = out.figure;
  f.title = fmt::format("{} distribution", m.title);
  f.x_label = fmt::format("{} (ms)", m.title);
  f.y_label = "fraction of requests";
  f.log_x = wide(v, 50);
  const std::size_t n = v.size();
  f.series.push_back(cdf_series("", std::move(v), -1));
  out.caption = fmt::format(
      "Cumulative distribution of {} over {} completed requests{}: the height at x is the "
      "fraction of requests with {} at most x.{}",
      m.title, n, metric == "tpot" ? " with more than one output token" : "", m.title,
      f.log_x ? " Log scale: the values span more than 50x." : "");
  if (n > kMaxPlotPoints) {
    out.caption += fmt::format(" Drawn through {} evenly spaced ranks.", kMaxPlotPoints);
  }
  return out;
}

ReportFigure ttft_by_prompt_figure(const std::vector<RequestRow>& requests) {
  std::vector<const RequestRow*> done;
  for (const auto& r : requests) {
    if (r.done && r.ttft_ms >= 0) done.push_back(&r);
  }
  ReportFigure out;
  out.id = "ttft-by-prompt";
  plot::Figure& f = out.figure;
  f.title = "TTFT against prompt length";
  f.x_label = "prompt tokens";
  f.y_label = "TTFT (ms)";
  plot::Series points = series("requests", plot::Mark::kPoints, 0.35);
  const std::size_t stride = (done.size() + kMaxScatterPoints - 1) / kMaxScatterPoints;
  for (std::size_t i = 0; i < done.size(); i += std::max<std::size_t>(1, stride)) {
    points.x.push_back(done[i]->prompt_tokens);
    points.y.push_back(done[i]->ttft_ms);
  }
  f.log_y = wide(points.y, 100);
  f.y_from_zero = true;
  // The median TTFT in each of 20 equal prompt-length bins (of 5 or more requests).
  plot::Series median = series("median of 20 bins", plot::Mark::kLinePoints);
  median.color = 3;
  if (!done.empty()) {
    const auto [lo, hi] = std::minmax_element(done.begin(), done.end(), [](auto* a, auto* b) {
      return a->prompt_tokens < b->prompt_tokens;
    });
    const double p0 = (*lo)->prompt_tokens;
    const double width = std::max(1.0, ((*hi)->prompt_tokens - p0) / 20.0);
    std::map<long, std::vector<double>> bins;
    for (const auto* r : done) bins[static_cast<long>((r->prompt_tokens - p0) / width)].push_back(r->ttft_ms);
    for (auto& [b, v] : bins) {
      if (v.size() < 5) continue;
      std::sort(v.begin(), v.end());
      median.x.push_back(p0 + (static_cast<double>(b) + 0.5) * width);
      median.y.push_back(percentile_of_sorted(v, 50));
    }
  }
  f.series.push_back(std::move(points));
  f.series.push_back(std::move(median));
  out.caption = fmt::format(
      "TTFT of each completed request against its prompt length ({} requests{}), and the median "
      "TTFT of 20 equal prompt-length bins. Longer prompts take longer to prefill; the spread "
      "at one length is queueing.{}",
      done.size(),
      stride > 1 ? fmt::format(", every {}th drawn", stride) : std::string(),
      f.log_y ? " Log scale." : "");
  return out;
}

ItlByPosition itl_by_position(const std::vector<RequestRow>& requests,
                              const std::vector<IterationRow>& iterations) {
  // The end times of each replica's decoding iterations, in order.
  std::map<int, std::vector<double>> ends;
  for (const auto& it : iterations) {
    if (it.decode_seqs > 0 && it.replica >= 0) ends[it.replica].push_back(it.end_s);
  }
  for (auto& [r, e] : ends) std::sort(e.begin(), e.end());

  ItlByPosition out;
  std::size_t longest = 0;
  for (const auto& r : requests) {
    if (r.done && r.replica >= 0 && r.preemptions == 0 && r.output_tokens >= 2) {
      longest = std::max(longest, static_cast<std::size_t>(r.output_tokens));
    }
  }
  if (longest < 2) return out;
  // Positions 2..longest (a gap ends at each), grouped into bins of equal width.
  const std::size_t gaps = longest - 1;
  out.bin_width = (gaps + kMaxPositionBins - 1) / kMaxPositionBins;
  const std::size_t bins = (gaps + out.bin_width - 1) / out.bin_width;
  std::vector<QuantileSketch> sketch(bins);
  for (const auto& r : requests) {
    if (!r.done || r.replica < 0 || r.preemptions != 0 || r.output_tokens < 2) continue;
    const auto found = ends.find(r.replica);
    if (found == ends.end()) {
      ++out.requests_skipped;
      continue;
    }
    const auto& e = found->second;
    const double first = r.arrival_s + r.ttft_ms / 1e3;
    const double finish = r.arrival_s + r.e2e_ms / 1e3;
    const auto from = std::upper_bound(e.begin(), e.end(), first + kTimeSlack);
    const auto to = std::upper_bound(e.begin(), e.end(), finish + kTimeSlack);
    if (to - from != r.output_tokens - 1) {
      ++out.requests_skipped;
      continue;
    }
    ++out.requests_used;
    double previous = first;
    std::size_t k = 0;
    for (auto t = from; t != to; ++t, ++k) {
      // Gap k ends at token position k + 2; nanoseconds for the sketch.
      sketch[k / out.bin_width].add(std::max(0.0, (*t - previous) * 1e9));
      previous = *t;
    }
  }
  for (std::size_t b = 0; b < bins; ++b) {
    if (sketch[b].count() == 0) continue;
    const double first_position = 2.0 + static_cast<double>(b * out.bin_width);
    const double last_position = std::min(first_position + static_cast<double>(out.bin_width) - 1,
                                          static_cast<double>(longest));
    out.position.push_back((first_position + last_position) / 2);
    out.mean_ms.push_back(sketch[b].mean() / 1e6);
    out.p90_ms.push_back(sketch[b].quantile(0.9) / 1e6);
  }
  return out;
}

ReportFigure itl_by_position_figure(const ItlByPosition& itl) {
  ReportFigure out;
  out.id = "itl-by-position";
  plot::Figure& f = out.figure;
  f.title = "Inter-token latency by token position";
  f.x_label = "output token position";
  f.y_label = "ITL (ms)";
  f.y_from_zero = true;
  const plot::Mark mark = itl.position.size() <= 40 ? plot::Mark::kLinePoints : plot::Mark::kLine;
  for (const auto& [label, values] : {std::pair{"mean", &itl.mean_ms}, std::pair{"P90", &itl.p90_ms}}) {
    plot::Series s = series(label, mark);
    s.x = itl.position;
    s.y = *values;
    f.series.push_back(std::move(s));
  }
  out.caption = fmt::format(
      "The gap before each output token (position 2 is the gap after the first token), mean and "
      "P90 over {} requests{}. Token times are rebuilt from the iteration log. Left out: "
      "requests that were preempted or answered by the response cache, and {} whose rebuilt "
      "token count did not match their output tokens. P90 is from a sketch within 0.5%.",
      itl.requests_used,
      itl.bin_width > 1 ? fmt::format(", positions grouped in bins of {}", itl.bin_width) : "",
      itl.requests_skipped);
  return out;
}

ReportFigure kv_use_figure(const std::vector<IterationRow>& iterations) {
  ReportFigure out = timeline_figure(iterations, [](const IterationRow& it) { return 100.0 * it.kv_used; });
  out.id = "kv-cache";
  out.figure.title = "KV-cache use over time";
  out.figure.y_label = "KV cache used (%)";
  out.caption = "Share of each replica's KV-cache blocks in use at the start of each iteration "
                "(after that iteration's blocks are allocated)." + out.caption;
  return out;
}

ReportFigure queue_figure(const std::vector<IterationRow>& iterations) {
  ReportFigure out = timeline_figure(iterations, [](const IterationRow& it) { return double(it.waiting); });
  out.id = "queue";
  out.figure.title = "Queue length over time";
  out.figure.y_label = "waiting requests";
  out.caption = "Requests waiting in each replica's queue when each iteration started (not yet "
                "admitted, or preempted and waiting to be recomputed)." + out.caption;
  return out;
}

ReportFigure link_use_figure(const CsvTable& t) {
  ReportFigure out;
  out.id = "links";
  out.figure.title = "Link use over time";
  out.figure.x_label = "time (s)";
  out.figure.y_label = "link capacity in use (%)";
  out.figure.y_from_zero = true;
  std::vector<plot::Series> series;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    const std::string name = t.text(i, "link");
    if (series.empty() || series.back().label != name) {
      series.emplace_back();
      series.back().label = name;
      series.back().mark = plot::Mark::kStep;
    }
    plot::Series& s = series.back();
    const double used = t.number(i, "utilization");
    if (!(used >= 0) || used > 1.0 + 1e-6) {
      throw Error(fmt::format("{}: row {}: utilization must lie in [0, 1], got {}", t.path(), i + 2, used));
    }
    s.x.push_back(t.number(i, "start_s"));
    s.y.push_back(100.0 * used);
    if (i + 1 == t.rows() || t.text(i + 1, "link") != name) {  // hold to the bin's end
      s.x.push_back(t.number(i, "end_s"));
      s.y.push_back(100.0 * used);
    }
  }
  out.figure.series = std::move(series);
  out.caption = "Share of each link's capacity carrying transfers (KV caches between pools, "
                "swaps to host memory), averaged over equal time bins, for the links that "
                "carried the most bytes; each line is one direction of one link, named "
                "from>to (docs/outputs.md).";
  return out;
}

std::vector<ReportFigure> run_figures(const std::string& dir) {
  const auto path = std::filesystem::path(dir);
  const std::vector<RequestRow> requests = read_requests(CsvTable::read((path / "requests.csv").string()));
  std::vector<ReportFigure> out;
  for (const char* m : {"ttft", "tpot", "e2e"}) out.push_back(latency_cdf_figure(requests, m));
  out.push_back(ttft_by_prompt_figure(requests));
  const auto log = path / "iterations.csv";
  if (std::filesystem::exists(log)) {
    const std::vector<IterationRow> iterations = read_iterations(CsvTable::read(log.string()));
    out.push_back(itl_by_position_figure(itl_by_position(requests, iterations)));
    out.push_back(kv_use_figure(iterations));
    out.push_back(queue_figure(iterations));
  }
  const auto links = path / "links.csv";
  if (std::filesystem::exists(links)) {
    const CsvTable t = CsvTable::read(links.string());
    if (t.rows() > 0) out.push_back(link_use_figure(t));
  }
  return out;
}

namespace {

// ITL of one side of a compare folder: every gap (itl.csv) or a simulated run's quantiles
// (itl_quantiles.csv); none when the run recorded no gaps.
std::optional<plot::Series> itl_series(const std::filesystem::path& side, const std::string& label, int color) {
  if (std::filesystem::exists(side / "itl.csv")) {
    const CsvTable t = CsvTable::read((side / "itl.csv").string());
    std::vector<double> v;
    for (std::size_t i = 0; i < t.rows(); ++i) v.push_back(t.number(i, "gap_ms"));
    return cdf_series(label, std::move(v), color);
  }
  if (std::filesystem::exists(side / "itl_quantiles.csv")) {
    const CsvTable t = CsvTable::read((side / "itl_quantiles.csv").string());
    plot::Series s = series(label, plot::Mark::kStep);
    s.color = color;
    for (std::size_t i = 0; i < t.rows(); ++i) {
      s.x.push_back(t.number(i, "gap_ms"));
      s.y.push_back(t.number(i, "quantile"));
    }
    return s;
  }
  return std::nullopt;
}

}  // namespace

std::vector<ReportFigure> compare_figures(const std::string& dir, const std::string& a_label,
                                          const std::string& b_label) {
  const auto root = std::filesystem::path(dir);
  const std::vector<RequestRow> a = read_requests(CsvTable::read((root / "a" / "requests.csv").string()));
  const std::vector<RequestRow> b = read_requests(CsvTable::read((root / "b" / "requests.csv").string()));
  std::vector<ReportFigure> out;
  for (const char* metric : {"ttft", "tpot"}) {
    const Metric& m = latency_metric(metric);
    auto values = [&](const std::vector<RequestRow>& rows) {
      std::vector<double> v;
      for (const auto& r : rows) {
        if (r.done && r.*m.field >= 0) v.push_back(r.*m.field);
      }
      return v;
    };
    ReportFigure fig;
    fig.id = fmt::format("compare-{}-cdf", metric);
    fig.figure.title = fmt::format("{}: A and B", m.title);
    fig.figure.x_label = fmt::format("{} (ms)", m.title);
    fig.figure.y_label = "fraction of requests";
    std::vector<double> va = values(a), vb = values(b);
    std::vector<double> all = va;
    all.insert(all.end(), vb.begin(), vb.end());
    fig.figure.log_x = wide(all, 50);
    fig.figure.series.push_back(cdf_series(a_label, std::move(va), 0));
    fig.figure.series.push_back(cdf_series(b_label, std::move(vb), 1));
    fig.caption = fmt::format("Cumulative distributions of {} of the two runs' completed requests{}: "
                              "where B's line lies right of A's, B's {} is longer at that share.",
                              m.title, metric == std::string("tpot") ? " with more than one output token" : "",
                              m.title);
    out.push_back(std::move(fig));
  }
  auto ia = itl_series(root / "a", a_label, 0);
  auto ib = itl_series(root / "b", b_label, 1);
  if (ia && ib) {
    ReportFigure fig;
    fig.id = "compare-itl-cdf";
    fig.figure.title = "ITL: A and B";
    fig.figure.x_label = "ITL (ms)";
    fig.figure.y_label = "fraction of token gaps";
    std::vector<double> all = ia->x;
    all.insert(all.end(), ib->x.begin(), ib->x.end());
    fig.figure.log_x = wide(all, 50);
    fig.figure.series.push_back(std::move(*ia));
    fig.figure.series.push_back(std::move(*ib));
    fig.caption = "Cumulative distributions of the gaps between consecutive tokens (every gap of "
                  "every request pooled; a simulated run's drawn through 999 quantiles of its "
                  "sketch).";
    out.push_back(std::move(fig));
  }
  ReportFigure scatter;
  scatter.id = "compare-ttft-by-prompt";
  scatter.figure.title = "TTFT against prompt length: A and B";
  scatter.figure.x_label = "prompt tokens";
  scatter.figure.y_label = "TTFT (ms)";
  std::vector<double> ys;
  for (const auto& [rows, label, color] : {std::tuple{&a, a_label, 0}, std::tuple{&b, b_label, 1}}) {
    plot::Series s = series(label, plot::Mark::kPoints, 0.35);
    s.color = color;
    const std::size_t stride = std::max<std::size_t>(1, (rows->size() + kMaxScatterPoints - 1) / kMaxScatterPoints);
    for (std::size_t i = 0; i < rows->size(); i += stride) {
      const RequestRow& r = (*rows)[i];
      if (!r.done || r.ttft_ms < 0) continue;
      s.x.push_back(r.prompt_tokens);
      s.y.push_back(r.ttft_ms);
      ys.push_back(r.ttft_ms);
    }
    scatter.figure.series.push_back(std::move(s));
  }
  scatter.figure.log_y = wide(ys, 100);
  scatter.figure.y_from_zero = true;
  scatter.caption = "Each completed request's TTFT against its prompt length, both runs: a replay "
                    "has the same prompts, so the two clouds differ only by the time each took.";
  out.push_back(std::move(scatter));
  return out;
}

std::vector<std::string> sweep_keys(const CsvTable& sweep) {
  const auto& h = sweep.header();
  const auto point = std::find(h.begin(), h.end(), "point");
  const auto seeds = std::find(h.begin(), h.end(), "seeds");
  if (point == h.end() || seeds == h.end() || seeds < point) {
    throw Error(fmt::format("{}: expected the columns \"point\", the varied keys, then \"seeds\"",
                            sweep.path()));
  }
  return {point + 1, seeds};
}

bool geometric(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  if (values.size() < 3 || !(values.front() > 0)) return false;
  const double ratio = values[1] / values[0];
  for (std::size_t i = 2; i < values.size(); ++i) {
    if (std::abs(values[i] / values[i - 1] / ratio - 1.0) > 1e-6) return false;
  }
  return ratio > 1.0 + 1e-9;
}

std::vector<ReportFigure> sweep_figures(const CsvTable& sweep) {
  const auto keys = sweep_keys(sweep);
  const std::string rate = "workload.rate";
  if (std::find(keys.begin(), keys.end(), rate) == keys.end()) return {};
  // One series per combination of the other varied keys, in order of first appearance.
  std::vector<std::string> labels;
  std::map<std::string, std::vector<std::size_t>> rows;
  for (std::size_t i = 0; i < sweep.rows(); ++i) {
    // A point that could not run has no metrics, and its rate may be any text.
    if (sweep.has_column("error") && !sweep.text(i, "error").empty()) continue;
    double r = 0;
    const std::string& rt = sweep.text(i, rate);
    const auto parsed = std::from_chars(rt.data(), rt.data() + rt.size(), r);
    if (parsed.ec != std::errc{} || parsed.ptr != rt.data() + rt.size()) continue;
    std::string label;
    for (const auto& k : keys) {
      if (k == rate) continue;
      label += fmt::format("{}{}={}", label.empty() ? "" : ", ", k.substr(k.rfind('.') + 1),
                           sweep.text(i, k));
    }
    if (!rows.count(label)) labels.push_back(label);
    rows[label].push_back(i);
  }
  struct Plotted {
    const char* column;
    const char* id;
    const char* title;
    const char* y_label;
  };
  static const Plotted plotted[] = {
      {"output_tokens_per_s", "sweep-throughput", "Throughput against request rate", "output tokens/s"},
      {"ttft_p99_ms", "sweep-ttft-p99", "TTFT P99 against request rate", "TTFT P99 (ms)"},
      {"tpot_p99_ms", "sweep-tpot-p99", "TPOT P99 against request rate", "TPOT P99 (ms)"},
      {"e2e_p50_ms", "sweep-e2e-p50", "E2E P50 against request rate", "E2E P50 (ms)"},
  };
  // A geometric rate axis (1:64:x2) is drawn on a log scale, where its points are evenly
  // spaced; a linear one on a linear scale.
  std::vector<double> rates;
  for (const auto& label : labels) {
    for (std::size_t i : rows[label]) rates.push_back(sweep.number(i, rate));
  }
  const bool log_rate = geometric(rates);
  const bool has_overloaded = sweep.has_column("overloaded");
  auto overloaded = [&](std::size_t i) {
    // The share of seeds overloaded ("0.5"), or true/false.
    if (!has_overloaded) return false;
    const std::string& v = sweep.text(i, "overloaded");
    return !(v.empty() || v == "0" || v == "false");
  };
  std::vector<ReportFigure> out;
  for (const Plotted& p : plotted) {
    if (!sweep.has_column(p.column)) continue;
    ReportFigure fig;
    fig.id = p.id;
    fig.figure.title = p.title;
    fig.figure.x_label = "request rate (requests/s)";
    fig.figure.y_label = p.y_label;
    std::vector<double> all;
    bool any_overloaded = false;
    for (const auto& label : labels) {
      auto& idx = rows[label];
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        return sweep.number(a, rate) < sweep.number(b, rate);
      });
      plot::Series s = series(label, plot::Mark::kLinePoints);
      for (std::size_t i : idx) {
        s.x.push_back(sweep.number(i, rate));
        s.y.push_back(sweep.text(i, p.column).empty() ? kNaN : sweep.number(i, p.column));
        s.hollow.push_back(overloaded(i));
        any_overloaded = any_overloaded || s.hollow.back();
        all.push_back(s.y.back());
      }
      fig.figure.series.push_back(std::move(s));
    }
    if (any_overloaded) fig.figure.series.push_back(plot::ring_legend("overloaded (open rings)"));
    fig.figure.log_x = log_rate;
    fig.figure.log_y = wide(all, 100);
    fig.figure.y_from_zero = true;
    fig.caption = fmt::format(
        "{} of each sweep point against workload.rate{}.{}{}{}", p.y_label,
        labels.size() > 1 ? ", one line per combination of the other varied keys" : "",
        log_rate ? " The rates grow by a constant factor: log rate axis." : "",
        fig.figure.log_y ? " Log latency scale: past saturation queueing grows without bound." : "",
        any_overloaded ? " Open rings: overloaded points, whose latency grows with the run's length." : "");
    out.push_back(std::move(fig));
  }
  return out;
}

}  // namespace servesim
