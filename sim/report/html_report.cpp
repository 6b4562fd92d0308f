#include "sim/report/html_report.hpp"
#include "sim/core/input_file.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"
#include "sim/report/plot.hpp"
#include "sim/report/run_plots.hpp"

namespace servesim {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::string esc(const std::string& s) { return plot::xml_escape(s); }

constexpr const char* kStyle = R"(
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 24px auto;
       max-width: 1100px; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.source { color: #666; margin-top: 0; }
p.warning { background: #fff4e5; border-left: 4px solid #D55E00; padding: 8px 12px; }
nav a { margin-right: 14px; white-space: nowrap; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 4px 10px; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
table.kv td:last-child { text-align: left; }
body.wide { max-width: 1340px; }
table.wrap th { white-space: normal; vertical-align: bottom; }
table.wrap th, table.wrap td { padding: 4px 6px; }
table.wrap .text { text-align: left; }
table.wrap td.long { white-space: normal; text-align: left; min-width: 14em; }
figure { margin: 28px 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: #444; max-width: 720px; margin-top: 6px; }
)";

std::string read_text(const fs::path& path) {
  check_input_file(path.string(), "file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {}", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Json read_json(const fs::path& path) {
  try {
    return Json::parse(read_text(path));
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number too large
    throw Error(fmt::format("{} is not valid JSON: {}", path.string(), e.what()));
  }
}

// Numbers as a person reads them: whole numbers whole, others to a sensible precision.
std::string number(double v) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  const double a = std::abs(v);
  if (a >= 100) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.4g}", v);
}

std::string cell(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return fmt::format("{}", v.get<long long>());
  if (v.is_number_unsigned()) return fmt::format("{}", v.get<unsigned long long>());
  if (v.is_number()) return number(v.get<double>());
  return v.dump();
}

// Nested objects flattened to dotted keys; arrays of objects are left out.
void flatten(const Json& j, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object() && !v.empty()) {
      flatten(v, key, out);
    } else if (v.is_array() && !v.empty() && v.front().is_object()) {
      continue;
    } else {
      out.emplace_back(key, cell(v));
    }
  }
}

std::string key_value_table(const Json& j) {
  std::vector<std::pair<std::string, std::string>> rows;
  flatten(j, "", rows);
  std::string out = "<div class=\"table-wrap\"><table class=\"kv\">\n";
  for (const auto& [k, v] : rows) out += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", esc(k), esc(v));
  return out + "</table></div>\n";
}

// A number written exactly in a CSV ("1951.6472355516883") shown to five significant digits
// ("1951.6"); integers and text as they are.
std::string readable(const std::string& cell) {
  if (cell.find_first_of(".eE") == std::string::npos) return cell;
  double v = 0;
  const char* end = cell.data() + cell.size();
  const auto r = std::from_chars(cell.data(), end, v);
  if (r.ec != std::errc{} || r.ptr != end) return cell;
  return fmt::format("{:.5g}", v);
}

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<div class=\"table-wrap\"><table>\n<tr>";
  for (const auto& h : header) out += "<th>" + esc(h) + "</th>";
  out += "</tr>\n";
  for (const auto& r : rows) {
    out += "<tr>";
    for (const auto& c : r) out += "<td>" + esc(readable(c)) + "</td>";
    out += "</tr>\n";
  }
  return out + "</table></div>\n";
}

std::string figure_html(const ReportFigure& f) {
  return fmt::format("<figure id=\"{}\">\n{}<figcaption>{}</figcaption>\n</figure>\n", esc(f.id),
                     plot::to_svg(f.figure), esc(f.caption));
}

// The SVG files of a folder (pareto.svg, knee.svg, plan.svg, ...), by name, inlined.
std::vector<std::pair<std::string, std::string>> svg_files(const fs::path& dir) {
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".svg") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : paths) {
    std::string text = read_text(p);
    const auto at = text.find("<svg");
    if (at == std::string::npos) throw Error(fmt::format("{} has no <svg> element", p.string()));
    out.emplace_back(p.filename().string(), text.substr(at));  // without an XML declaration
  }
  return out;
}

struct Page {
  std::string title;
  std::string source;
  std::string body;
  std::vector<std::pair<std::string, std::string>> contents;  // section id, heading
  bool wide = false;  // tables of many columns: the page may take up to 1340 px

  void section(const std::string& id, const std::string& heading, const std::string& html) {
    contents.emplace_back(id, heading);
    body += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n{}</section>\n", esc(id), esc(heading), html);
  }

  std::string html() const {
    std::string nav;
    for (const auto& [id, heading] : contents) nav += fmt::format("<a href=\"#{}\">{}</a>", esc(id), esc(heading));
    return fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n<title>{0}</title>\n<style>{1}</style>\n</head>\n"
        "<body{5}>\n<h1>{0}</h1>\n<p class=\"source\">{2}</p>\n<nav>{3}</nav>\n{4}</body>\n</html>\n",
        esc(title), kStyle, esc(source), nav, body, wide ? " class=\"wide\"" : "");
  }
};

std::string figures_html(const std::vector<ReportFigure>& figures) {
  std::string out;
  for (const auto& f : figures) out += figure_html(f);
  return out;
}

void add_svg_files(Page& page, const fs::path& dir) {
  std::string html;
  for (const auto& [name, svg] : svg_files(dir)) {
    const std::string stem = fs::path(name).stem().string();
    html += fmt::format("<figure id=\"file-{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                        esc(stem), svg, esc(name));
  }
  if (!html.empty()) page.section("files", "Figures in the folder", html);
}

std::string latency_table(const Json& latency) {
  static const std::pair<const char*, const char*> rows[] = {
      {"ttft", "TTFT"}, {"tpot", "TPOT"}, {"itl", "ITL"}, {"e2e", "E2E"}, {"queue", "queueing"}};
  static const char* columns[] = {"count", "mean", "p50", "p90", "p95", "p99", "max"};
  std::vector<std::vector<std::string>> out;
  for (const auto& [key, name] : rows) {
    // null: not recorded (an imported run whose client keeps no per-chunk times).
    if (!latency.contains(key) || !latency[key].is_object()) continue;
    std::vector<std::string> r{name};
    for (const char* c : columns) {
      const Json& v = latency[key].value(c, Json());
      r.push_back(v.is_number_float() ? fmt::format("{:.2f}", v.get<double>()) : cell(v));
    }
    out.push_back(std::move(r));
  }
  return table({"latency (ms)", "n", "mean", "P50", "P90", "P95", "P99", "max"}, out);
}

std::string run_page(const fs::path& dir) {
  const Json s = read_json(dir / "summary.json");
  Page page;
  const Json scenario = s.value("scenario", Json::object());
  page.title = fmt::format("servesim run: {}", cell(scenario.value("name", Json("unnamed"))));
  page.source = fmt::format("from {} (seed {})", dir.string(), cell(scenario.value("seed", Json())));
  std::string results;
  const Json load = s.value("load", Json::object());
  if (load.value("overloaded", false)) {
    results += fmt::format(
        "<p class=\"warning\">OVERLOADED: requests arrived at {}/s but completed at {}/s while "
        "they arrived, and the wait grew {}x. Queueing grows without bound, so the latencies "
        "depend on how long the run is.</p>\n",
        cell(load.value("arrival_rate", Json())),
        cell(load.value("completion_rate_during_arrivals", Json())),
        cell(load.value("queue_growth", Json())));
  }
  results += latency_table(s.value("latency_ms", Json::object()));
  Json rest = s;
  for (const char* k : {"scenario", "latency_ms"}) rest.erase(k);
  results += key_value_table(rest);
  page.section("summary", "Summary", results);
  page.section("scenario", "Scenario", key_value_table(scenario));
  page.section("plots", "Plots", figures_html(run_figures(dir.string())));
  add_svg_files(page, dir);
  return page.html();
}

std::string sweep_page(const fs::path& dir) {
  const CsvTable sweep = CsvTable::read((dir / "sweep.csv").string());
  const auto keys = sweep_keys(sweep);
  Page page;
  page.title = fmt::format("servesim sweep: {}", dir.filename().empty() ? dir.parent_path().filename().string()
                                                                         : dir.filename().string());
  page.source = fmt::format("from {}: {} points, varying {}", dir.string(), sweep.rows(),
                            keys.empty() ? std::string("nothing") : join(keys));
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < sweep.rows(); ++i) {
    std::vector<std::string> r;
    for (const auto& h : sweep.header()) r.push_back(sweep.text(i, h));
    rows.push_back(std::move(r));
  }
  page.section("sweep", "Sweep points", table(sweep.header(), rows));
  const auto figures = sweep_figures(sweep);
  if (!figures.empty()) page.section("plots", "Against request rate", figures_html(figures));
  add_svg_files(page, dir);
  return page.html();
}

// A table whose text cells wrap, so that it fits the page instead of scrolling sideways.
std::string wrapping_table(const std::vector<std::string>& header,
                           const std::vector<std::vector<std::string>>& rows) {
  // Columns of text align left, columns of numbers right ("-" and "" count as either).
  std::vector<bool> text(header.size(), false);
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size() && c < text.size(); ++c) {
      const std::string& v = r[c];
      if (v.empty() || v == "-") continue;
      if (!(std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-' || v[0] == '$')) text[c] = true;
    }
  }
  std::string out = "<div class=\"table-wrap\"><table class=\"wrap\">\n<tr>";
  for (std::size_t c = 0; c < header.size(); ++c)
    out += (text[c] ? "<th class=\"text\">" : "<th>") + esc(header[c]) + "</th>";
  out += "</tr>\n";
  for (const auto& r : rows) {
    out += "<tr>";
    // Long text (a distribution, a reason) wraps at its spaces; short cells stay whole.
    for (std::size_t c = 0; c < r.size(); ++c) {
      std::string cls = c < text.size() && text[c] ? "text" : "";
      if (r[c].size() > 24) cls += cls.empty() ? "long" : " long";
      out += (cls.empty() ? "<td>" : "<td class=\"" + cls + "\">") + esc(r[c]) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</table></div>\n";
}

std::string money_cell(const Json& v) {
  return v.is_number() ? fmt::format("{:.2f}", v.get<double>()) : "-";
}

std::string percent_cell(const Json& v) {
  return v.is_number() ? fmt::format("{:.0f}%", 100.0 * v.get<double>()) : "";
}

std::string plan_page(const fs::path& dir) {
  const Json plan = read_json(dir / "plan.json");
  const Json& slo = plan.at("slo");
  const Json& candidates = plan.at("candidates");
  Page page;
  page.wide = true;
  page.title = fmt::format("servesim plan: {}", cell(plan.value("scenario", Json(""))));
  std::vector<std::string> targets;
  for (const Json& t : slo) {
    targets.push_back(fmt::format("{}.{} <= {} ms", cell(t.at("metric")), cell(t.at("stat")),
                                  cell(t.at("limit_ms"))));
  }
  page.source = fmt::format("from {}: {} requests/s within {}; {} simulations; ranked by {}",
                            dir.string(), cell(plan.at("rate")), join(targets),
                            cell(plan.value("simulations", Json())),
                            plan.value("ranked_by", Json("")) == "cost_per_hour" ? "cost per hour" : "GPUs");
  std::string html;
  for (const Json& n : plan.value("notices", Json::array())) {
    html += "<p class=\"warning\">notice: " + esc(cell(n)) + "</p>\n";
  }
  if (plan.contains("why_first")) html += "<p><b>" + esc(cell(plan["why_first"])) + "</b></p>\n";
  // Knob columns: the keys of the candidates' "values", in order.
  std::vector<std::string> knobs;
  for (const Json& c : candidates) {
    const Json values = c.value("values", Json::object());
    for (const auto& [k, v] : values.items()) {
      if (std::find(knobs.begin(), knobs.end(), k) == knobs.end()) knobs.push_back(k);
    }
  }
  std::vector<std::string> header = {"#", "GPU", "layout", "replicas", "GPUs", "$/hour",
                                     "$/Mtok", "binding"};
  for (const auto& k : knobs) header.push_back(k.substr(k.rfind('.') + 1));
  header.push_back("req/s per replica");
  for (const std::string& t : targets) header.push_back(t.substr(0, t.find(' ')) + " at that rate (room)");
  header.push_back("calibration");
  header.push_back("crosses nodes");
  std::vector<std::vector<std::string>> ranked, evidence, refused;
  for (const Json& c : candidates) {
    if (!c.value("feasible", false)) {
      refused.push_back({cell(c.value("label", Json(""))), cell(c.value("reason", Json("")))});
      continue;
    }
    const std::string rank = cell(c.at("rank"));
    std::string replicas = cell(c.at("replicas"));
    if (c.value("kind", Json("")) == "disaggregated") replicas += " units";
    std::vector<std::string> r = {rank,
                                  cell(c.at("gpu")),
                                  cell(c.value("layout", Json(""))),
                                  replicas,
                                  cell(c.at("gpus")),
                                  money_cell(c.value("cost_per_hour", Json())),
                                  money_cell(c.value("cost_per_million_output_tokens", Json())),
                                  c.value("binding", Json()).is_null() ? "-" : cell(c["binding"])};
    const Json values = c.value("values", Json::object());
    for (const auto& k : knobs) {
      r.push_back(values.contains(k) && !values[k].is_null() ? cell(values[k]) : "-");
    }
    r.push_back(fmt::format("{:.3g}", c.at("max_rate_per_replica").get<double>()));
    const Json at = c.value("at_max_rate", Json::object());
    const Json room = c.value("headroom", Json::object());
    for (const Json& t : slo) {
      const std::string key = cell(t.at("metric")) + "." + cell(t.at("stat"));
      const Json v = at.value(key + "_ms", Json());
      r.push_back(v.is_number() ? fmt::format("{:.1f} ms ({})", v.get<double>(), percent_cell(room.value(key, Json())))
                                : "");
    }
    r.push_back(cell(c.value("calibration", Json(""))));
    r.push_back(c.value("crosses_nodes", false) ? "yes" : "no");
    ranked.push_back(std::move(r));
    evidence.push_back({rank, cell(c.value("label", Json(""))), c.value("binding", Json()).is_null() ? "-" : cell(c["binding"]),
                        cell(c.value("binding_detail", Json(""))),
                        percent_cell(c.value("slo_headroom", Json()))});
  }
  if (ranked.empty()) html += "<p>No candidate meets the SLO at this rate.</p>\n";
  else html += wrapping_table(header, ranked);
  html += "<p class=\"source\">binding: what stops one replica just above its rate: kv-capacity (it "
          "preempts, rejects for KV or fills its KV cache), compute (it no longer keeps up), or the "
          "SLO target furthest over. room: 1 - measured / target, one replica at its rate. "
          "calibration: measured on this GPU, derived from another GPU's, or uncalibrated "
          "(datasheet rooflines). plan.json and plan.csv hold every field.</p>\n";
  page.section("plan", "Ranking", html);
  if (!evidence.empty()) {
    page.section("binding", "What binds each candidate",
                 wrapping_table({"#", "candidate", "binding", "evidence, just above its rate",
                                 "SLO room of the whole cluster"},
                                evidence));
  }
  if (plan.contains("comparison") && plan["comparison"].is_object()) {
    page.section("comparison", "Colocated against disaggregated", key_value_table(plan["comparison"]));
  }
  if (!refused.empty()) page.section("refused", "Cannot serve", wrapping_table({"candidate", "why"}, refused));
  add_svg_files(page, dir);
  return page.html();
}

std::string compare_page(const fs::path& dir) {
  const Json c = read_json(dir / "compare.json");
  const Json metrics = c.value("metrics", Json::object());
  if (!metrics.is_object()) throw Error(fmt::format("{}: \"metrics\" must be an object", (dir / "compare.json").string()));
  Page page;
  page.title = "servesim compare";
  page.source = fmt::format("from {}: A = {}, B = {}", dir.string(), cell(c.value("a", Json(""))),
                            cell(c.value("b", Json(""))));
  std::vector<std::vector<std::string>> rows;
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    const Json& m = *it;
    if (!m.is_object()) {
      throw Error(fmt::format("{}: metrics.{} must be an object {{a, b, change, error}}",
                              (dir / "compare.json").string(), it.key()));
    }
    const Json err = m.value("error", Json());
    std::string interval;
    if (m.contains("b_interval_95") && m["b_interval_95"].is_array() && m["b_interval_95"].size() == 2) {
      interval = fmt::format("{} .. {}", cell(m["b_interval_95"][0]), cell(m["b_interval_95"][1]));
    }
    rows.push_back({it.key(), cell(m.value("a", Json())), cell(m.value("b", Json())), cell(m.value("change", Json())),
                    err.is_number() ? fmt::format("{:+.1f}%", 100 * err.get<double>()) : cell(err), interval});
  }
  std::string html = table({"metric", "A", "B", "B - A", "error (B - A) / A", "B 95% over seeds"}, rows);
  if (c.contains("worst") && c["worst"].is_string()) {
    html += fmt::format("<p>The worst metric: <b>{}</b>.</p>\n", esc(c["worst"].get<std::string>()));
  }
  page.section("compare", "Metric by metric", html);
  // Each side named by what it is: a measured (imported) run or a simulated one.
  auto side = [&](const char* folder, const char* label) {
    const fs::path summary = dir / folder / "summary.json";
    if (!fs::exists(summary)) return std::string(label);
    const Json j = read_json(summary);
    const bool measured = j.is_object() && j.contains("source") && j["source"] == "measured";
    return fmt::format("{}: {}", label, measured ? "measured" : "simulated");
  };
  page.section("plots", "A and B", figures_html(compare_figures(dir.string(), side("a", "A"), side("b", "B"))));
  return page.html();
}

}  // namespace

OutputKind detect_output(const std::string& dir) {
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw Error(fmt::format("{}: no such folder", dir));
  if (fs::exists(d / "compare.json")) return OutputKind::kCompare;
  if (fs::exists(d / "summary.json") && fs::exists(d / "requests.csv")) return OutputKind::kRun;
  if (fs::exists(d / "sweep.csv")) return OutputKind::kSweep;
  if (fs::exists(d / "plan.json")) return OutputKind::kPlan;
  throw Error(fmt::format(
      "{} is not an output folder: expected summary.json and requests.csv (servesim run --out "
      "or import), sweep.csv (servesim sweep), plan.json or compare.json (servesim compare --out)",
      dir));
}

std::string report_html(const std::string& dir) {
  const OutputKind kind = detect_output(dir);
  try {
    switch (kind) {
      case OutputKind::kRun: return run_page(dir);
      case OutputKind::kSweep: return sweep_page(dir);
      case OutputKind::kPlan: return plan_page(dir);
      case OutputKind::kCompare: return compare_page(dir);
    }
  } catch (const nlohmann::json::exception& e) {
    // A JSON file that parses but has the wrong shape (a key of the wrong type).
    throw Error(fmt::format("{}: a JSON file in it does not have the shape servesim writes ({}); "
                            "servesim report reads the folders of run --out, import, sweep, plan "
                            "and compare --out",
                            dir, e.what()));
  }
  return "";
}

}  // namespace servesim
