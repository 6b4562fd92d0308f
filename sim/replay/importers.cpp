// Readers of benchmark clients' per-request results. Each turns its format's records into
// RequestRecords with the client's own definitions (docs/calibration-runs.md):
//   TTFT = first streamed chunk - request start; E2E = last chunk (or the response) - start;
//   TPOT = (E2E - TTFT) / (output tokens - 1); ITL = every gap between streamed chunks.
#include <algorithm>
#include "sim/core/input_file.hpp"
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/random.hpp"
#include "sim/core/sha256.hpp"
#include "sim/replay/measured.hpp"
#include "sim/workload/workload.hpp"

namespace servesim {

using Json = nlohmann::json;

const char* arrival_source_name(ArrivalSource a) {
  switch (a) {
    case ArrivalSource::kRecorded: return "recorded";
    case ArrivalSource::kRate: return "rebuilt from the request rate";
    case ArrivalSource::kConcurrency: return "rebuilt as a closed loop of max_concurrency clients";
    case ArrivalSource::kAtOnce: return "rebuilt: all at t = 0";
  }
  return "?";
}

const std::vector<std::string>& import_formats() {
  static const std::vector<std::string> f = {"vllm",   "aiperf", "genai-perf", "guidellm",
                                             "sglang", "vllm-engine", "trace"};
  return f;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string read_file(const std::string& path) {
  check_input_file(path, "benchmark file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot be opened", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Python's json module writes Infinity, -Infinity and NaN bare (vLLM saves request_rate =
// inf that way), which JSON does not allow: outside strings they become the strings
// "Infinity", "-Infinity" and "NaN", which number() reads back.
std::string quote_python_specials(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
      const std::size_t n = std::char_traits<char>::length(word);
      if (text.compare(i, n, word) == 0) {
        out += fmt::format("\"{}\"", word);
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

Json parse_json(const std::string& text, const std::string& where) {
  try {
    return Json::parse(quote_python_specials(text));
  } catch (const Json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
}

// The reading position for messages: "FILE: request 12 (\"ttfts\"[11])".
struct Where {
  std::string file;
  std::string record;  // "request 12", "line 40 (record 40)"
  std::string at(const std::string& field) const {
    return record.empty() ? fmt::format("{}: field \"{}\"", file, field)
                          : fmt::format("{}: {}: field \"{}\"", file, record, field);
  }
};

bool is_number(const Json& v) {
  return v.is_number() ||
         (v.is_string() && (v == "Infinity" || v == "-Infinity" || v == "NaN"));
}

double as_number(const Json& v, const Where& w, const std::string& field) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    if (v == "Infinity") return kInf;
    if (v == "-Infinity") return -kInf;
    if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(fmt::format("{}: expected a number, got {}", w.at(field), v.dump().substr(0, 80)));
}

// A finite number >= 0.
double non_negative(const Json& v, const Where& w, const std::string& field) {
  const double x = as_number(v, w, field);
  if (!std::isfinite(x) || x < 0) {
    throw Error(fmt::format("{}: expected a finite number >= 0, got {}", w.at(field), v.dump()));
  }
  return x;
}

// A clock reading in integer nanoseconds (1.7e18 since 1970: a double would round it to
// 256 ns, so integers are read exactly).
std::int64_t ns_value(const Json& v, const Where& w, const std::string& field) {
  if (v.is_number_unsigned() && v.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
  const double x = non_negative(v, w, field);
  if (x > 9.2e18) throw Error(fmt::format("{}: {} ns is past the year 2262", w.at(field), v.dump()));
  return static_cast<std::int64_t>(std::llround(x));
}

std::int32_t token_count(const Json& v, const Where& w, const std::string& field) {
  const double x = non_negative(v, w, field);
  if (x != std::floor(x) || x > 1e7) {
    throw Error(fmt::format("{}: expected a whole number of tokens from 0 to 10000000, got {}",
                            w.at(field), v.dump()));
  }
  return static_cast<std::int32_t>(x);
}

// "a, b, c": the first keys of an object, for a message about one it lacks.
std::string first_keys(const Json& j) {
  if (!j.is_object()) return "not an object";
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end() && keys.size() < 12; ++it) keys.push_back(it.key());
  return join(keys);
}

const Json& member(const Json& j, const std::string& key, const Where& w) {
  if (!j.is_object() || !j.contains(key)) {
    throw Error(fmt::format("{}: missing (the record has: {})", w.at(key), first_keys(j)));
  }
  return j.at(key);
}

const Json* optional_member(const Json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// A time in milliseconds from {value, unit} (aiperf's metric records).
double time_ms(double value, const std::string& unit, const Where& w, const std::string& field) {
  if (unit == "ns") return value * 1e-6;
  if (unit == "us") return value * 1e-3;
  if (unit == "ms") return value;
  if (unit == "s" || unit == "sec") return value * 1e3;
  throw Error(fmt::format("{}: unit \"{}\" is not a time unit servesim knows (ns, us, ms, s)",
                          w.at(field), unit));
}

void check_order(double ttft_ms, double e2e_ms, const Where& w, const std::string& field) {
  // Clients round to the microsecond or so: allow that much.
  if (e2e_ms + 1e-3 < ttft_ms) {
    throw Error(fmt::format("{}: the request's latency {} ms is shorter than its time to first "
                            "token {} ms",
                            w.at(field), e2e_ms, ttft_ms));
  }
}

void finish_done(RequestRecord& r) {
  r.outcome = Outcome::kDone;
  r.tpot_ms = tpot_of(r.ttft_ms, r.e2e_ms, r.output_tokens, false);
}

void version_fields(const Json& j, MeasuredRun& run) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if ((k.find("version") != std::string::npos || k == "date" || k == "backend" ||
         k == "endpoint_type" || k == "service_kind" || k == "label") &&
        (it->is_string() || it->is_number())) {
      run.versions[k] = *it;
    }
  }
}

// Arrivals when the file has none: as the client made them, from its rate (Poisson, or
// gamma with its burstiness) or its concurrency cap; seed 0 (servesim compare --seeds draws
// others).
void rebuild_arrivals(MeasuredRun& run) {
  const bool has_rate = run.request_rate && std::isfinite(*run.request_rate) && *run.request_rate > 0;
  if (has_rate && run.max_concurrency) {
    run.notes.push_back(fmt::format(
        "the client sent at {} requests/s with at most {} in flight: the arrivals are rebuilt "
        "from the rate only, and servesim compare refuses the pair (it replays one or the other)",
        *run.request_rate, *run.max_concurrency));
  }
  if (has_rate) {
    run.arrivals = ArrivalSource::kRate;
    RandomStream rng(0, "arrivals");
    const double rate = *run.request_rate;
    const double k = 1.0 / (run.burstiness * run.burstiness);
    double t = 0;
    for (std::size_t i = 0; i < run.requests.size(); ++i) {
      if (i > 0) t += run.burstiness == 1.0 ? rng.exponential(rate) : rng.gamma(k, 1.0 / (rate * k));
      run.requests[i].arrival_s = t;
    }
  } else {
    run.arrivals = run.max_concurrency ? ArrivalSource::kConcurrency : ArrivalSource::kAtOnce;
    for (RequestRecord& r : run.requests) r.arrival_s = 0;
  }
  run.notes.push_back(fmt::format(
      "the file has no request start times: arrivals are {}, so compare is statistical (use "
      "servesim compare --seeds N for the seed-to-seed spread)",
      arrival_source_name(run.arrivals)));
}

// ---- vLLM (vllm bench serve --save-result --save-detailed; benchmark_serving.py) and SGLang
// (bench_serving --output-details): per-request lists of equal length.
void read_lists(const Json& j, const Where& file, MeasuredRun& run, bool sglang) {
  const Json& inputs = member(j, "input_lens", file);
  if (!inputs.is_array()) throw Error(fmt::format("{}: expected a list", file.at("input_lens")));
  const std::size_t n = inputs.size();
  auto list = [&](const char* key, bool required) -> const Json* {
    const Json* v = required ? &member(j, key, file) : optional_member(j, key);
    if (v == nullptr) return nullptr;
    if (!v->is_array() || v->size() != n) {
      throw Error(fmt::format("{}: expected a list of {} entries (one per request, as "
                              "\"input_lens\"), got {}",
                              file.at(key), n, v->is_array() ? std::to_string(v->size()) + " entries" : v->type_name()));
    }
    return v;
  };
  const Json& outputs = *list("output_lens", true);
  const Json& ttfts = *list("ttfts", true);
  const Json* itls = list("itls", !sglang);
  const Json* latencies = list("latencies", false);
  const Json* starts = list("start_times", false);
  const Json* errors = list("errors", false);
  if (itls == nullptr) run.notes.push_back("the file has no \"itls\": no ITL figures");
  run.has_itl = itls != nullptr;
  if (latencies == nullptr) {
    run.notes.push_back("the file has no \"latencies\": E2E is TTFT plus the sum of the request's ITLs");
    if (itls == nullptr) throw Error(fmt::format("{}: needs \"latencies\" or \"itls\" for each request's E2E", file.file));
  }
  for (std::size_t i = 0; i < n; ++i) {
    Where w{file.file, fmt::format("request {} (index {} of the lists)", i + 1, i)};
    RequestRecord r;
    r.prompt_tokens = token_count(inputs[i], w, "input_lens");
    r.output_tokens = token_count(outputs[i], w, "output_lens");
    std::string error;
    if (errors != nullptr && !(*errors)[i].is_null()) {
      if (!(*errors)[i].is_string()) throw Error(fmt::format("{}: expected a string", w.at("errors")));
      error = (*errors)[i].get<std::string>();
    }
    if (!error.empty()) {
      r.outcome = Outcome::kRejected;
      r.reason = "failed: " + error.substr(0, 200);
    } else {
      r.ttft_ms = 1e3 * non_negative(ttfts[i], w, "ttfts");
      double gaps = 0;
      if (itls != nullptr) {
        const Json& g = (*itls)[i];
        if (!g.is_array()) throw Error(fmt::format("{}: expected a list of seconds", w.at("itls")));
        for (const Json& x : g) {
          const double ms = 1e3 * non_negative(x, w, "itls");
          gaps += ms;
          run.itl_ms.push_back(ms);
        }
      }
      r.e2e_ms = latencies != nullptr ? 1e3 * non_negative((*latencies)[i], w, "latencies") : r.ttft_ms + gaps;
      check_order(r.ttft_ms, r.e2e_ms, w, "latencies");
      finish_done(r);
    }
    if (starts != nullptr) r.arrival_s = non_negative((*starts)[i], w, "start_times");
    run.requests.push_back(std::move(r));
  }
  if (const Json* rate = optional_member(j, "request_rate")) {
    if (rate->is_string() && (*rate == "inf" || *rate == "Infinity")) {
      run.request_rate = kInf;
    } else if (is_number(*rate)) {
      run.request_rate = as_number(*rate, file, "request_rate");
      if (!(*run.request_rate > 0)) {
        throw Error(fmt::format("{}: must be a positive rate or inf, got {}", file.at("request_rate"), rate->dump()));
      }
    }
  }
  if (const Json* b = optional_member(j, "burstiness"); b && b->is_number()) {
    run.burstiness = b->get<double>();
    if (!(run.burstiness > 0) || !std::isfinite(run.burstiness)) {
      throw Error(fmt::format("{}: must be a positive number, got {}", file.at("burstiness"), b->dump()));
    }
  }
  if (const Json* c = optional_member(j, "max_concurrency"); c && c->is_number()) {
    run.max_concurrency = static_cast<std::int64_t>(non_negative(*c, file, "max_concurrency"));
  }
  for (const char* key : {"model_id", "model", "tokenizer_id"}) {
    if (const Json* m = optional_member(j, key); m && m->is_string() && run.model.empty()) run.model = m->get<std::string>();
  }
  version_fields(j, run);
  if (starts != nullptr) {
    // vLLM writes each request's time.perf_counter() at send (an arbitrary epoch); arrivals
    // count from the first.
    double first = kInf;
    for (const RequestRecord& r : run.requests) first = std::min(first, r.arrival_s);
    for (RequestRecord& r : run.requests) r.arrival_s -= first;
  } else {
    rebuild_arrivals(run);
  }
  if (const Json* d = optional_member(j, "duration")) {
    run.duration_s = non_negative(*d, file, "duration");
  } else {
    double end = 0;
    for (const RequestRecord& r : run.requests) {
      if (r.outcome == Outcome::kDone) end = std::max(end, r.arrival_s + 1e-3 * r.e2e_ms);
    }
    run.duration_s = end;
    run.notes.push_back("the file has no \"duration\": throughput is over the last request's end");
  }
  // The tool's own summary fields, under our names.
  static const std::pair<const char*, const char*> metrics[] = {
      {"ttft", "ttft"}, {"tpot", "tpot"}, {"itl", "itl"}, {"e2el", "e2e"}, {"e2e_latency", "e2e"}};
  for (const auto& [theirs, ours] : metrics) {
    for (const char* stat : {"mean", "median", "p90", "p95", "p99"}) {
      const std::string key = fmt::format("{}_{}_ms", stat, theirs);
      if (const Json* v = optional_member(j, key); v && v->is_number()) {
        const std::string s = stat == std::string("median") ? "p50" : stat;
        run.tool_summary[fmt::format("{}.{}", ours, s)] = v->get<double>();
      }
    }
  }
  if (const Json* v = optional_member(j, "output_throughput"); v && v->is_number()) {
    run.tool_summary["throughput.output_tokens_per_s"] = v->get<double>();
  }
  if (const Json* v = optional_member(j, "request_throughput"); v && v->is_number()) {
    run.tool_summary["throughput.requests_per_s"] = v->get<double>();
  }
  if (const Json* v = optional_member(j, "completed"); v && v->is_number()) {
    run.tool_summary["requests.completed"] = v->get<double>();
  }
}

// Which of a file's several runs to read: `run` (1-based), or the last.
std::size_t pick_run(std::size_t count, int run, const std::string& what, const Where& w,
                     MeasuredRun& out) {
  if (count == 0) throw Error(fmt::format("{}: the list is empty", w.at(what)));
  if (run > static_cast<int>(count)) {
    throw Error(fmt::format("{}: --run {}: the file holds {} runs (1 to {})", w.at(what), run, count, count));
  }
  if (run <= 0 && count > 1) {
    out.notes.push_back(fmt::format("the file holds {} runs in \"{}\": the last is imported "
                                    "(choose another with --run N)",
                                    count, what));
  }
  return run > 0 ? static_cast<std::size_t>(run - 1) : count - 1;
}

// The records of a JSONL text (one JSON object a line; blank lines skipped), each with its
// line number.
std::vector<std::pair<Json, int>> jsonl_records(const std::string& text, const std::string& path) {
  std::vector<std::pair<Json, int>> out;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.emplace_back(parse_json(line, fmt::format("{}:{}", path, line_no)), line_no);
  }
  return out;
}

// "line 40 (record 38)": where record `n` (from 0) of jsonl_records is, for messages.
Where jsonl_where(const std::string& path, int line_no, std::size_t n) {
  return Where{path, fmt::format("line {} (record {})", line_no, n + 1)};
}

// One JSON object, or (vLLM --append-result, SGLang) one per line: each with the line it
// starts on.
std::vector<std::pair<Json, int>> json_objects(const std::string& text, const std::string& path) {
  try {
    return {{Json::parse(quote_python_specials(text)), 1}};
  } catch (const Json::exception&) {
  }
  return jsonl_records(text, path);
}

MeasuredRun read_lists_file(const std::string& path, const std::string& text, int which, bool sglang) {
  MeasuredRun run;
  run.format = sglang ? "sglang" : "vllm";
  run.tool = sglang ? "sglang bench_serving" : "vllm bench serve";
  const auto objects = json_objects(text, path);
  const std::size_t k = pick_run(objects.size(), which, "lines", Where{path, ""}, run);
  const auto& [j, line] = objects[k];
  if (!j.is_object()) {
    throw Error(fmt::format("{}:{}: expected a JSON object ({})", path, line,
                            sglang ? "sglang bench_serving --output-file --output-details"
                                   : "vllm bench serve --save-result --save-detailed"));
  }
  read_lists(j, Where{path, objects.size() > 1 ? fmt::format("line {}", line) : ""}, run, sglang);
  return run;
}

// ---- aiperf profile_export.jsonl: one {metadata, metrics, error} record per line.
MeasuredRun read_aiperf(const std::string& path, const std::string& text) {
  MeasuredRun run;
  run.format = "aiperf";
  run.tool = "aiperf profile";
  std::vector<std::int64_t> start_ns, end_ns;
  std::vector<std::vector<double>> gaps;
  bool any_chunks = false;
  const auto records = jsonl_records(text, path);
  for (std::size_t n = 0; n < records.size(); ++n) {
    const auto& [j, line_no] = records[n];
    const Where w = jsonl_where(path, line_no, n);
    const Json& meta = member(j, "metadata", w);
    const Json& metrics = member(j, "metrics", w);
    if (!metrics.is_object()) throw Error(fmt::format("{}: expected an object", w.at("metrics")));
    auto metric = [&](const char* tag) -> const Json* {
      const Json* m = optional_member(metrics, tag);
      if (m == nullptr) return nullptr;
      member(*m, "value", Where{path, w.record + fmt::format(": metric \"{}\"", tag)});
      return m;
    };
    auto unit_of = [&](const Json& m, const char* tag) {
      const Json* u = optional_member(m, "unit");
      if (u == nullptr || !u->is_string()) {
        throw Error(fmt::format("{}: needs a \"unit\" string", w.at(std::string("metrics.") + tag)));
      }
      return u->get<std::string>();
    };
    auto ms_of = [&](const char* tag) -> std::optional<double> {
      const Json* m = metric(tag);
      if (m == nullptr) return std::nullopt;
      const std::string field = std::string("metrics.") + tag + ".value";
      return time_ms(non_negative(m->at("value"), w, field), unit_of(*m, tag), w, field);
    };
    auto tokens_of = [&](const char* tag) -> std::optional<std::int32_t> {
      const Json* m = metric(tag);
      if (m == nullptr) return std::nullopt;
      const std::string unit = unit_of(*m, tag);
      if (unit != "tokens" && unit != "token") {
        throw Error(fmt::format("{}: unit \"{}\": expected \"tokens\"", w.at(std::string("metrics.") + tag), unit));
      }
      return token_count(m->at("value"), w, std::string("metrics.") + tag + ".value");
    };
    RequestRecord r;
    start_ns.push_back(ns_value(member(meta, "request_start_ns", w), w, "metadata.request_start_ns"));
    const Json* end = optional_member(meta, "request_end_ns");
    end_ns.push_back(end ? ns_value(*end, w, "metadata.request_end_ns") : start_ns.back());
    if (const Json* phase = optional_member(meta, "benchmark_phase"); phase && *phase == "warmup") r.warmup = true;
    r.prompt_tokens = tokens_of("input_sequence_length").value_or(0);
    r.output_tokens = tokens_of("output_sequence_length").value_or(tokens_of("output_token_count").value_or(0));
    gaps.emplace_back();
    const Json* error = optional_member(j, "error");
    const Json* cancelled = optional_member(meta, "was_cancelled");
    if (cancelled && cancelled->is_boolean() && cancelled->get<bool>()) {
      r.outcome = Outcome::kUnfinished;
      r.reason = "cancelled";
    } else if (error != nullptr) {
      r.outcome = Outcome::kRejected;
      const Json* msg = error->is_object() ? optional_member(*error, "message") : nullptr;
      const Json* type = error->is_object() ? optional_member(*error, "type") : nullptr;
      r.reason = "failed: " + (msg && msg->is_string() ? msg->get<std::string>()
                               : type && type->is_string() ? type->get<std::string>()
                                                           : error->dump())
                                  .substr(0, 200);
    } else {
      const auto ttft = ms_of("time_to_first_token");
      const auto latency = ms_of("request_latency");
      if (!ttft || !latency) {
        throw Error(fmt::format("{}: a request without an error needs the metrics "
                                "time_to_first_token and request_latency (a streaming run)",
                                w.at("metrics")));
      }
      r.ttft_ms = *ttft;
      r.e2e_ms = *latency;
      check_order(r.ttft_ms, r.e2e_ms, w, "metrics.request_latency");
      if (const Json* m = metric("inter_chunk_latency")) {
        const Json& v = m->at("value");
        const std::string unit = unit_of(*m, "inter_chunk_latency");
        if (!v.is_array()) throw Error(fmt::format("{}: expected a list", w.at("metrics.inter_chunk_latency.value")));
        for (const Json& x : v) {
          gaps.back().push_back(time_ms(non_negative(x, w, "metrics.inter_chunk_latency.value"), unit, w,
                                        "metrics.inter_chunk_latency"));
        }
        any_chunks = true;
      }
      finish_done(r);
    }
    run.requests.push_back(std::move(r));
  }
  if (run.requests.empty()) throw Error(fmt::format("{}: no records (aiperf profile_export.jsonl has one per line)", path));
  run.has_itl = any_chunks;
  if (!any_chunks) run.notes.push_back("no record has metrics.inter_chunk_latency: no ITL figures");
  // Arrivals from the wall clock; throughput over the profiling phase: its first start to
  // its last end.
  const std::int64_t t0 = *std::min_element(start_ns.begin(), start_ns.end());
  std::int64_t p0 = INT64_MAX, p1 = 0;
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    RequestRecord& r = run.requests[i];
    r.arrival_s = static_cast<double>(start_ns[i] - t0) * 1e-9;
    if (r.warmup) continue;
    p0 = std::min(p0, start_ns[i]);
    p1 = std::max(p1, end_ns[i]);
    if (r.counted()) run.itl_ms.insert(run.itl_ms.end(), gaps[i].begin(), gaps[i].end());
  }
  run.duration_s = p1 > p0 ? static_cast<double>(p1 - p0) * 1e-9 : 0.0;
  // aiperf's own summary, profile_export_aiperf.json beside the records: its figures under
  // our names (its inter_token_latency is per request, our TPOT; inter_chunk_latency is our
  // ITL; times in the unit each states).
  const auto aggregate = std::filesystem::path(path).parent_path() / "profile_export_aiperf.json";
  if (std::filesystem::exists(aggregate)) {
    const Json a = parse_json(read_file(aggregate.string()), aggregate.string());
    const Where aw{aggregate.string(), ""};
    static const std::pair<const char*, const char*> tags[] = {{"time_to_first_token", "ttft"},
                                                               {"inter_token_latency", "tpot"},
                                                               {"inter_chunk_latency", "itl"},
                                                               {"request_latency", "e2e"}};
    for (const auto& [tag, ours] : tags) {
      const Json* m = optional_member(a, tag);
      if (m == nullptr || !m->is_object()) continue;
      const Json* unit = optional_member(*m, "unit");
      if (unit == nullptr || !unit->is_string()) continue;
      for (const auto& [theirs, stat] : {std::pair{"avg", "mean"}, {"p50", "p50"}, {"p90", "p90"}, {"p99", "p99"}}) {
        if (const Json* v = optional_member(*m, theirs); v && v->is_number()) {
          run.tool_summary[fmt::format("{}.{}", ours, stat)] =
              time_ms(v->get<double>(), unit->get<std::string>(), aw, std::string(tag) + ".unit");
        }
      }
    }
    if (const Json* t = optional_member(a, "output_token_throughput")) {
      if (const Json* v = optional_member(*t, "avg"); v && v->is_number()) {
        run.tool_summary["throughput.output_tokens_per_s"] = v->get<double>();
      }
    }
    for (const char* k : {"aiperf_version", "schema_version"}) {
      if (const Json* v = optional_member(a, k); v && (v->is_string() || v->is_number())) run.versions[k] = *v;
    }
    if (const Json* cfg = optional_member(a, "input_config")) {
      const Json* ep = optional_member(*cfg, "endpoint");
      const Json* names = ep ? optional_member(*ep, "model_names") : nullptr;
      if (names && names->is_array() && !names->empty() && (*names)[0].is_string()) run.model = (*names)[0].get<std::string>();
    }
  }
  return run;
}

// The chosen entry of a file's top-level list of runs (genai-perf's "experiments", GuideLLM's
// "benchmarks"), and its index.
std::pair<const Json*, std::size_t> listed_run(const Json& j, const char* list, int which, const Where& file,
                                               MeasuredRun& run) {
  const Json& runs = member(j, list, file);
  if (!runs.is_array()) throw Error(fmt::format("{}: expected a list", file.at(list)));
  const std::size_t i = pick_run(runs.size(), which, list, file, run);
  return {&runs[i], i};
}

bool nonempty_string(const Json* v) { return v != nullptr && v->is_string() && !v->get<std::string>().empty(); }

// Whether a genai-perf response chunk carries generated text (genai-perf drops the others,
// with their timestamps: role-only deltas, usage-only chunks, [DONE]).
bool has_text(const Json& output) {
  if (!output.is_object()) return true;
  if (const Json* t = optional_member(output, "text_output")) return !t->is_string() || !t->get<std::string>().empty();
  const Json* r = optional_member(output, "response");
  if (r == nullptr || !r->is_string()) return true;
  std::string body = r->get<std::string>();
  const auto at = body.find("data:");
  if (at != std::string::npos) body = body.substr(at + 5);
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || body.compare(first, 6, "[DONE]") == 0) return false;
  Json chunk;
  try {
    chunk = Json::parse(body);
  } catch (const Json::exception&) {
    return true;  // not JSON: plain text
  }
  const Json* choices = optional_member(chunk, "choices");
  if (choices == nullptr || !choices->is_array() || choices->empty()) return false;
  const Json& c = (*choices)[0];
  const Json* delta = optional_member(c, "delta");
  return nonempty_string(optional_member(c, "text")) || nonempty_string(optional_member(c, "content")) ||
         (delta != nullptr && nonempty_string(optional_member(*delta, "content")));
}

// ---- genai-perf profile_export.json: experiments[].requests[] with ns timestamps. The file
// holds no token counts (genai-perf tokenizes the texts itself).
MeasuredRun read_genai_perf(const std::string& path, const std::string& text, int which) {
  MeasuredRun run;
  run.format = "genai-perf";
  run.tool = "genai-perf profile";
  const Json j = parse_json(text, path);
  const Where file{path, ""};
  const auto [chosen, e] = listed_run(j, "experiments", which, file, run);
  const Json& exp = *chosen;
  const Where ew{path, fmt::format("experiments[{}]", e)};
  if (const Json* x = optional_member(exp, "experiment")) {
    const Json* mode = optional_member(*x, "mode");
    const Json* value = optional_member(*x, "value");
    if (mode && mode->is_string() && value && value->is_number()) {
      if (*mode == "concurrency") run.max_concurrency = value->get<std::int64_t>();
      if (*mode == "request_rate" && value->get<double>() > 0) run.request_rate = value->get<double>();
    }
  }
  version_fields(j, run);
  if (const Json* v = optional_member(j, "version")) run.versions["version"] = *v;
  const Json& requests = member(exp, "requests", ew);
  if (!requests.is_array()) throw Error(fmt::format("{}: expected a list", ew.at("requests")));
  std::int64_t t0 = INT64_MAX, t_end = 0;
  std::vector<std::int64_t> start;
  std::vector<std::vector<double>> gaps;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const Json& q = requests[i];
    const Where w{path, fmt::format("experiments[{}].requests[{}]", e, i)};
    const std::int64_t ts = ns_value(member(q, "timestamp", w), w, "timestamp");
    const Json& times = member(q, "response_timestamps", w);
    if (!times.is_array()) throw Error(fmt::format("{}: expected a list of ns", w.at("response_timestamps")));
    const Json* outputs = optional_member(q, "response_outputs");
    if (outputs && (!outputs->is_array() || outputs->size() != times.size())) {
      throw Error(fmt::format("{}: expected one output per response timestamp ({})", w.at("response_outputs"), times.size()));
    }
    std::vector<std::int64_t> kept;
    for (std::size_t k = 0; k < times.size(); ++k) {
      if (outputs && !has_text((*outputs)[k])) continue;
      const std::int64_t t = ns_value(times[k], w, "response_timestamps");
      if (t < ts || (!kept.empty() && t < kept.back())) {
        throw Error(fmt::format("{}: response {} at {} ns is before the request or the previous response",
                                w.at("response_timestamps"), k, times[k].dump()));
      }
      kept.push_back(t);
    }
    if (run.model.empty()) {
      if (const Json* in = optional_member(q, "request_inputs")) {
        if (const Json* pl = optional_member(*in, "payload"); pl && pl->is_string()) {
          try {
            const Json body = Json::parse(pl->get<std::string>());
            if (const Json* m = optional_member(body, "model"); m && m->is_string()) run.model = m->get<std::string>();
          } catch (const Json::exception&) {
          }
        }
      }
    }
    RequestRecord r;
    start.push_back(ts);
    t0 = std::min(t0, ts);
    gaps.emplace_back();
    if (kept.empty()) {
      r.outcome = Outcome::kRejected;
      r.reason = "failed: no response with generated text";
    } else {
      r.ttft_ms = static_cast<double>(kept.front() - ts) * 1e-6;
      r.e2e_ms = static_cast<double>(kept.back() - ts) * 1e-6;
      r.output_tokens = static_cast<std::int32_t>(kept.size());
      for (std::size_t k = 1; k < kept.size(); ++k) {
        gaps.back().push_back(static_cast<double>(kept[k] - kept[k - 1]) * 1e-6);
      }
      t_end = std::max(t_end, kept.back());
      finish_done(r);
    }
    run.requests.push_back(std::move(r));
  }
  if (run.requests.empty()) throw Error(fmt::format("{}: no requests", ew.at("requests")));
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    run.requests[i].arrival_s = static_cast<double>(start[i] - t0) * 1e-9;
    if (run.requests[i].counted()) run.itl_ms.insert(run.itl_ms.end(), gaps[i].begin(), gaps[i].end());
  }
  run.has_itl = true;
  run.duration_s = t_end > t0 ? static_cast<double>(t_end - t0) * 1e-9 : 0.0;
  run.notes.push_back("genai-perf's file holds no token counts: output tokens are the streamed "
                      "chunks with text (one token each, as engines stream by default), prompt "
                      "tokens are unknown (0), so the run has no trace.csv to replay");
  return run;
}

// ---- GuideLLM benchmarks.json: benchmarks[].requests.{successful,errored,incomplete}[],
// timings as Unix seconds (info.timings in 0.4 and later; start_time, first_token_time, ...
// in 0.3).
MeasuredRun read_guidellm(const std::string& path, const std::string& text, int which) {
  MeasuredRun run;
  run.format = "guidellm";
  run.tool = "guidellm benchmark";
  const Json j = parse_json(text, path);
  const Where file{path, ""};
  const auto [chosen, b] = listed_run(j, "benchmarks", which, file, run);
  const Json& bench = *chosen;
  const Where bw{path, fmt::format("benchmarks[{}]", b)};
  if (const Json* meta = optional_member(j, "metadata")) version_fields(*meta, run);
  for (const Json* cfg : {optional_member(j, "config"), optional_member(j, "args")}) {
    if (cfg == nullptr) continue;
    const Json* backend = optional_member(*cfg, "backend");
    const Json* model = backend && backend->is_object() ? optional_member(*backend, "model") : optional_member(*cfg, "model");
    if (model && model->is_string() && run.model.empty()) run.model = model->get<std::string>();
  }
  const Json* strategy = nullptr;
  for (const char* holder : {"config", "args"}) {
    if (const Json* c = optional_member(bench, holder)) strategy = optional_member(*c, "strategy");
    if (strategy) break;
  }
  if (strategy && strategy->is_object()) {
    if (const Json* r = optional_member(*strategy, "rate"); r && r->is_number() && r->get<double>() > 0) {
      run.request_rate = r->get<double>();
    }
    for (const char* k : {"max_concurrency", "streams"}) {
      if (const Json* c = optional_member(*strategy, k); c && c->is_number()) run.max_concurrency = c->get<std::int64_t>();
    }
    if (const Json* t = optional_member(*strategy, "type_"); t && t->is_string()) run.versions["strategy"] = *t;
  }
  const Json& lists = member(bench, "requests", bw);
  double t0 = kInf;
  std::vector<double> start;
  std::size_t listed = 0;
  for (const char* kind : {"successful", "errored", "incomplete"}) {
    const Json* list = optional_member(lists, kind);
    if (list == nullptr) continue;
    if (!list->is_array()) throw Error(fmt::format("{}: expected a list", bw.at(std::string("requests.") + kind)));
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& q = (*list)[i];
      const Where w{path, fmt::format("benchmarks[{}].requests.{}[{}]", b, kind, i)};
      const Json* info = optional_member(q, "info");
      const Json* timings = info ? optional_member(*info, "timings") : nullptr;
      // A timing of 0.4+ (info.timings.NEW) or of 0.3 (OLD at the top level), Unix seconds.
      auto timing = [&](const char* now, const char* old) -> std::optional<double> {
        const Json* v = timings ? optional_member(*timings, now) : nullptr;
        const char* field = now;
        if (v == nullptr) {
          v = optional_member(q, old);
          field = old;
        }
        if (v == nullptr) return std::nullopt;
        return non_negative(*v, w, timings ? std::string("info.timings.") + field : field);
      };
      const auto begin = timing("request_start", "start_time");
      if (!begin) throw Error(fmt::format("{}: missing (a request's start: info.timings.request_start, or start_time in 0.3)", w.at("request_start")));
      RequestRecord r;
      if (const Json* pt = optional_member(q, "prompt_tokens")) r.prompt_tokens = token_count(*pt, w, "prompt_tokens");
      if (const Json* ot = optional_member(q, "output_tokens")) r.output_tokens = token_count(*ot, w, "output_tokens");
      if (kind == std::string("successful")) {
        const auto first = timing("first_token_iteration", "first_token_time");
        const auto last = timing("last_token_iteration", "last_token_time");
        const auto end = timing("request_end", "end_time");
        if (!first || !(last || end)) {
          throw Error(fmt::format("{}: a successful request needs its first and last token times "
                                  "(info.timings.first_token_iteration and last_token_iteration)",
                                  w.at("info.timings")));
        }
        r.ttft_ms = (*first - *begin) * 1e3;
        r.e2e_ms = ((last ? *last : *end) - *begin) * 1e3;
        if (r.ttft_ms < 0) throw Error(fmt::format("{}: the first token is before the request's start", w.at("first_token_iteration")));
        check_order(r.ttft_ms, r.e2e_ms, w, "last_token_iteration");
        finish_done(r);
      } else {
        const Json* err = info ? optional_member(*info, "error") : optional_member(q, "error");
        if (kind == std::string("errored")) {
          r.outcome = Outcome::kRejected;
          r.reason = "failed: " + (err && err->is_string() ? err->get<std::string>().substr(0, 200) : std::string("error"));
        } else {
          r.outcome = Outcome::kUnfinished;
          r.reason = "cancelled";
        }
      }
      start.push_back(*begin);
      t0 = std::min(t0, *begin);
      run.requests.push_back(std::move(r));
      ++listed;
    }
  }
  if (run.requests.empty()) throw Error(fmt::format("{}: no requests in successful, errored or incomplete", bw.at("requests")));
  double end = 0;
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    RequestRecord& r = run.requests[i];
    r.arrival_s = start[i] - t0;
    if (r.outcome == Outcome::kDone) end = std::max(end, r.arrival_s + 1e-3 * r.e2e_ms);
  }
  if (const Json* d = optional_member(bench, "duration"); d && d->is_number()) {
    run.duration_s = non_negative(*d, bw, "duration");
  } else {
    run.duration_s = end;
  }
  if (const Json* sm = optional_member(bench, "scheduler_metrics")) {
    if (const Json* made = optional_member(*sm, "requests_made")) {
      if (const Json* total = optional_member(*made, "total"); total && total->is_number() &&
                                                              total->get<double>() > static_cast<double>(listed)) {
        run.notes.push_back(fmt::format("the benchmark made {} requests but lists {} (a sample, "
                                        "--sample-requests): the import has the listed ones only",
                                        total->get<double>(), listed));
      }
    }
  }
  run.notes.push_back("GuideLLM records no per-token times: no ITL figures");
  if (const Json* m = optional_member(bench, "metrics")) {
    if (const Json* t = optional_member(*m, "time_to_first_token_ms")) {
      if (const Json* ok = optional_member(*t, "successful")) {
        if (const Json* mean = optional_member(*ok, "mean"); mean && mean->is_number()) {
          run.tool_summary["ttft.mean"] = mean->get<double>();
        }
      }
    }
  }
  return run;
}

// ---- vLLM's engine-side request timestamps, one JSON object per line, as LLMServingSim's
// vLLM bench writes them (requests.jsonl: input_toks, output_toks, queued_ts, scheduled_ts,
// first_token_ts, last_token_ts in monotonic seconds), with meta.json beside it.
MeasuredRun read_vllm_engine(const std::string& path, const std::string& text) {
  MeasuredRun run;
  run.format = "vllm-engine";
  run.tool = "vllm engine request log";
  std::vector<double> queued;
  double t0 = kInf, t_end = 0;
  const auto records = jsonl_records(text, path);
  for (std::size_t n = 0; n < records.size(); ++n) {
    const auto& [j, line_no] = records[n];
    const Where w = jsonl_where(path, line_no, n);
    RequestRecord r;
    r.prompt_tokens = token_count(member(j, "input_toks", w), w, "input_toks");
    r.output_tokens = token_count(member(j, "output_toks", w), w, "output_toks");
    const double q = non_negative(member(j, "queued_ts", w), w, "queued_ts");
    const double first = non_negative(member(j, "first_token_ts", w), w, "first_token_ts");
    const double last = non_negative(member(j, "last_token_ts", w), w, "last_token_ts");
    if (const Json* sch = optional_member(j, "scheduled_ts")) r.queue_ms = (non_negative(*sch, w, "scheduled_ts") - q) * 1e3;
    r.ttft_ms = (first - q) * 1e3;
    r.e2e_ms = (last - q) * 1e3;
    if (r.ttft_ms < 0 || (optional_member(j, "scheduled_ts") && r.queue_ms < 0)) {
      throw Error(fmt::format("{}: first_token_ts and scheduled_ts must not be before queued_ts", w.at("queued_ts")));
    }
    check_order(r.ttft_ms, r.e2e_ms, w, "last_token_ts");
    finish_done(r);
    queued.push_back(q);
    t0 = std::min(t0, q);
    t_end = std::max(t_end, last);
    run.requests.push_back(std::move(r));
  }
  if (run.requests.empty()) throw Error(fmt::format("{}: no records", path));
  for (std::size_t i = 0; i < queued.size(); ++i) run.requests[i].arrival_s = queued[i] - t0;
  run.duration_s = t_end - t0;
  run.has_itl = false;
  run.notes.push_back("engine-side timestamps: TTFT and E2E from when the engine queued the "
                      "request (no HTTP or client time); no per-token times, so no ITL figures");
  // meta.json beside it: the model and vLLM version.
  const auto meta = std::filesystem::path(path).parent_path() / "meta.json";
  if (std::filesystem::exists(meta)) {
    const Json m = parse_json(read_file(meta.string()), meta.string());
    if (const Json* model = optional_member(m, "model"); model && model->is_string()) run.model = model->get<std::string>();
    version_fields(m, run);
  }
  return run;
}

// ---- servesim's own trace (arrival_s, prompt_tokens, output_tokens): lengths and arrivals
// only, no latencies.
MeasuredRun read_trace_file(const std::string& path) {
  MeasuredRun run;
  run.format = "trace";
  run.tool = "trace";
  for (const RequestSpec& s : read_trace(path)) {
    RequestRecord r;
    r.arrival_s = s.arrival.seconds().value;
    r.prompt_tokens = s.prompt_tokens;
    r.output_tokens = s.output_tokens;
    r.warmup = s.warmup;
    r.outcome = Outcome::kUnfinished;
    r.reason = "a trace has no latencies";
    run.requests.push_back(std::move(r));
  }
  run.notes.push_back("a trace holds arrivals and lengths only: the summary has no latencies");
  return run;
}

std::string detect(const std::string& path, const std::string& text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw Error(fmt::format("{}: the file is empty", path));
  if (text[first] != '{') {
    if (text.compare(first, 9, "arrival_s") == 0) return "trace";
    throw Error(fmt::format("{}: not a format servesim imports (neither JSON nor a trace CSV); "
                            "valid --format values are: {}",
                            path, join(import_formats())));
  }
  // The first line alone: a JSONL file's first record, or the head of one JSON object.
  const std::string head = text.substr(first, std::min<std::size_t>(text.size() - first, 1 << 16));
  const std::string line = head.substr(0, head.find('\n'));
  if (line.find("\"metadata\"") != std::string::npos && line.find("\"metrics\"") != std::string::npos) return "aiperf";
  if (line.find("\"queued_ts\"") != std::string::npos && line.find("\"first_token_ts\"") != std::string::npos) {
    return "vllm-engine";
  }
  if (head.find("\"experiments\"") != std::string::npos) return "genai-perf";
  if (head.find("\"benchmarks\"") != std::string::npos) return "guidellm";
  if (head.find("\"input_lens\"") != std::string::npos || text.find("\"input_lens\"") != std::string::npos) {
    // SGLang names E2E "e2e_latency"; vLLM "e2el".
    if (text.find("_e2e_latency_ms\"") != std::string::npos && text.find("_e2el_ms\"") == std::string::npos) {
      return "sglang";
    }
    return "vllm";
  }
  if (text.find("\"arrival_s\"") != std::string::npos) return "trace";
  throw Error(fmt::format("{}: its format was not recognised (no \"input_lens\", \"metadata\"/"
                          "\"metrics\", \"experiments\" or \"benchmarks\"); name it with --format, "
                          "one of: {}",
                          path, join(import_formats())));
}

}  // namespace

MeasuredRun import_run(const std::string& path, const std::string& format, int which) {
  const std::string text = read_file(path);
  const std::string f = format == "auto" ? detect(path, text) : format;
  MeasuredRun run;
  if (f == "vllm") {
    run = read_lists_file(path, text, which, false);
  } else if (f == "sglang") {
    run = read_lists_file(path, text, which, true);
  } else if (f == "aiperf") {
    run = read_aiperf(path, text);
  } else if (f == "genai-perf") {
    run = read_genai_perf(path, text, which);
  } else if (f == "guidellm") {
    run = read_guidellm(path, text, which);
  } else if (f == "trace") {
    run = read_trace_file(path);
  } else if (f == "vllm-engine") {
    run = read_vllm_engine(path, text);
  } else {
    throw Error(fmt::format("--format \"{}\": valid values are: auto, {}", format, join(import_formats())));
  }
  run.file = path;
  run.sha256 = sha256_hex(text);
  if (run.requests.empty()) throw Error(fmt::format("{}: no requests", path));
  // Arrival order (stable: the file's order among equal start times).
  std::vector<std::size_t> order(run.requests.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return run.requests[a].arrival_s < run.requests[b].arrival_s;
  });
  std::vector<RequestRecord> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) sorted.push_back(std::move(run.requests[i]));
  run.requests = std::move(sorted);
  return run;
}

}  // namespace servesim
