// The Chrome trace is a faithful picture of the run: every async span is closed, children lie
// inside their request and add up to it to the nanosecond, each replica's iterations follow one
// another and add up to its busy time, counters stay within capacity, a window shows only what
// overlaps it (cut at its edges), and bad windows are errors that say what would be valid.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/report/chrome_trace.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using nlohmann::json;

// The busy replica pair at 200 requests; its 300 KV blocks make the longest prompts rejected.
const char* const kScenario = testing::kBusyPair;
const std::vector<std::vector<std::string>>& kConfigs = testing::scheduler_variety();

RunResult run(const std::vector<std::string>& sets, std::uint64_t seed) {
  std::vector<std::string> all = sets;
  all.push_back("workload.requests=200");
  all.push_back(fmt::format("seed={}", seed));
  Simulator sim(testing::scenario_from("trace", kScenario, all), testing::catalog());
  sim.record_iterations();
  return sim.run();
}

std::string trace_text(const RunResult& r, const TraceWindow& w = {}) {
  std::ostringstream out;
  write_chrome_trace(out, r, w);
  return out.str();
}

// Times are written in microseconds with exactly three decimals (checked on the text), so each
// is a whole number of nanoseconds. Read back as a double and multiplied by 1000, it is within
// 1e-6 ns of that number for anything under 2^53 / 1000 µs (104 days), so rounding recovers the
// nanoseconds exactly and sums of them are exact integers.
std::int64_t ns(const json& v) { return std::llround(v.get<double>() * 1000.0); }

void expect_whole_nanoseconds(const std::string& text) {
  std::int64_t fields = 0;
  for (const std::string key : {"\"ts\":", "\"dur\":"}) {
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
      const std::size_t begin = at + key.size();
      const std::size_t end = text.find_first_of(",}", begin);
      const std::string value = text.substr(begin, end - begin);
      const auto dot = value.find('.');
      ASSERT_TRUE(dot != std::string::npos && dot > 0 && value.size() - dot == 4 &&
                  value.find_first_not_of("0123456789.") == std::string::npos)
          << key << value;
      ++fields;
    }
  }
  EXPECT_GT(fields, 0);
}

struct Span {
  std::string name;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  json args;
};

// One request's async spans, outermost first, as their "b" and "e" events nest.
struct Flow {
  int pid = 0;
  std::vector<Span> spans;
};

// Replays the async events: each "e" must close the innermost open span of its (pid, cat, id)
// with the same name, no earlier than it opened, so a child ends before its parent and lies
// inside it. Returns the flows by id; fails the test on any unmatched event.
std::map<std::string, Flow> replay_async(const json& events) {
  std::map<std::string, Flow> flows;
  std::map<std::string, std::vector<std::size_t>> open;  // indices into Flow::spans
  for (const json& e : events) {
    const std::string ph = e["ph"];
    if (ph != "b" && ph != "e") continue;
    if (e["cat"] == "transfer") continue;  // the network's spans (checked on their own)
    EXPECT_EQ(e["cat"], "request");
    const std::string key =
        fmt::format("{}/{}", e["pid"].get<int>(), e["id2"]["local"].get<std::string>());
    Flow& f = flows[key];
    f.pid = e["pid"];
    auto& stack = open[key];
    if (ph == "b") {
      if (!stack.empty()) {
        EXPECT_GE(ns(e["ts"]), f.spans[stack.back()].begin) << key;
      }
      stack.push_back(f.spans.size());
      f.spans.push_back({e["name"], ns(e["ts"]), -1, e.value("args", json::object())});
    } else {
      if (stack.empty()) {
        ADD_FAILURE() << "\"e\" without \"b\" for " << key;
        continue;
      }
      const std::size_t closing = stack.back();
      Span& s = f.spans[closing];
      EXPECT_EQ(e["name"], s.name) << key;
      s.end = ns(e["ts"]);
      EXPECT_LE(s.begin, s.end) << key;
      // Its children, opened after it, have all closed, and no later than it does.
      for (std::size_t j = closing + 1; j < f.spans.size(); ++j) {
        EXPECT_LE(f.spans[j].end, s.end) << key;
      }
      stack.pop_back();
    }
  }
  for (const auto& [key, stack] : open) EXPECT_TRUE(stack.empty()) << "unclosed span of " << key;
  return flows;
}

// The children ("queued", "prefill", "decode") of a request span lie inside it, follow one
// another without gaps or overlap, and so add up to it exactly.
void expect_children_partition(const Flow& f, const std::string& key) {
  ASSERT_FALSE(f.spans.empty());
  const Span& outer = f.spans.front();
  std::int64_t at = outer.begin;
  std::int64_t sum = 0;
  for (std::size_t i = 1; i < f.spans.size(); ++i) {
    const Span& c = f.spans[i];
    EXPECT_TRUE(c.name == "queued" || c.name == "prefill" || c.name == "decode" ||
                c.name == "holding KV" || c.name == "KV transfer")
        << c.name;
    EXPECT_EQ(c.begin, at) << key << " " << c.name;
    EXPECT_LT(c.begin, c.end) << key << " " << c.name;  // phases that took no time are left out
    EXPECT_LE(c.end, outer.end) << key;
    at = c.end;
    sum += c.end - c.begin;
  }
  if (f.spans.size() > 1) {
    EXPECT_EQ(at, outer.end) << key;
    EXPECT_EQ(sum, outer.end - outer.begin) << key;
  }
}

std::map<std::string, int> pid_by_process_name(const json& events) {
  std::map<std::string, int> pids;
  for (const json& e : events) {
    if (e["ph"] == "M" && e["name"] == "process_name") pids[e["args"]["name"]] = e["pid"];
  }
  return pids;
}

// Per replica, in start order, iterations never overlap and add up to the busy time; each is
// named for what its batch held.
void expect_iterations_tile_busy_time(const json& events, const RunResult& r) {
  const std::size_t replicas = r.replicas.size();
  std::vector<std::int64_t> last_end(replicas + 1, 0);
  std::vector<std::int64_t> busy(replicas + 1, 0);
  std::vector<std::int64_t> count(replicas + 1, 0);
  for (const json& e : events) {
    if (e["ph"] != "X") continue;
    const int pid = e["pid"];
    ASSERT_GE(pid, 1);
    ASSERT_LE(pid, static_cast<int>(replicas));
    const std::int64_t ts = ns(e["ts"]);
    const std::int64_t dur = ns(e["dur"]);
    EXPECT_LE(last_end[pid], ts);
    EXPECT_GT(dur, 0);
    last_end[pid] = ts + dur;
    busy[pid] += dur;
    ++count[pid];
    const json& a = e["args"];
    EXPECT_EQ(a["batch_size"], a["prefill_seqs"].get<int>() + a["decode_seqs"].get<int>());
    const std::string expected_name = a["decode_seqs"] == 0    ? "prefill"
                                      : a["prefill_seqs"] == 0 ? "decode"
                                                               : "mixed";
    EXPECT_EQ(e["name"], expected_name);
    EXPECT_FALSE(a.contains("clipped"));
  }
  for (std::size_t k = 0; k < replicas; ++k) {
    EXPECT_EQ(busy[k + 1], r.replicas[k].busy.ns);
    EXPECT_EQ(count[k + 1], r.replicas[k].iterations);
  }
}

// Counters stay within capacity, and as step functions sampled when their value changes they
// give, at each iteration's start, that iteration's own KV use and queue (the value in force is
// the last sample at or before it).
// `compact`: counters hold their value, so a replica whose KV use repeats between iterations
// writes fewer samples than it has iterations (a decode instance receiving KV between its
// iterations may change at every one).
void expect_counters_follow_the_log(const json& events, const RunResult& r, bool compact = true) {
  const std::size_t replicas = r.replicas.size();
  // Samples per replica in file order: (time, values).
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> kv(replicas + 1);
  std::vector<std::vector<std::pair<std::int64_t, std::pair<int, int>>>> queue(replicas + 1);
  for (const json& e : events) {
    if (e["ph"] != "C") continue;
    const json& a = e["args"];
    const int pid = e["pid"];
    if (e["name"].get<std::string>().rfind("link ", 0) == 0) {
      // A network link's share of its capacity in use (the network process's counters).
      EXPECT_EQ(pid, static_cast<int>(replicas) + 2);
      EXPECT_GE(a["used"], 0.0);
      EXPECT_LE(a["used"], 1.0 + 1e-9);
      continue;
    }
    if (e["name"] == "KV blocks") {
      EXPECT_GE(a["used"], 0);
      EXPECT_LE(a["used"], r.pool_of(static_cast<std::size_t>(pid - 1)).kv_blocks);
      kv[pid].emplace_back(ns(e["ts"]), a["used"].get<std::int64_t>());
    } else if (e["name"] == "KV fraction") {
      EXPECT_GE(a["used"], 0.0);
      EXPECT_LE(a["used"], 1.0);
    } else {
      EXPECT_EQ(e["name"], "requests");
      EXPECT_GE(a["waiting"], 0);
      EXPECT_GE(a["running"], 0);
      queue[pid].emplace_back(ns(e["ts"]),
                              std::make_pair(a["waiting"].get<int>(), a["running"].get<int>()));
    }
  }
  std::vector<std::size_t> next_kv(replicas + 1, 0);
  std::vector<std::size_t> next_queue(replicas + 1, 0);
  for (const IterationRecord& it : r.iterations) {
    const std::size_t pid = it.replica + 1;
    const std::int64_t t = it.start.ns;
    while (next_kv[pid] < kv[pid].size() && kv[pid][next_kv[pid]].first <= t) ++next_kv[pid];
    while (next_queue[pid] < queue[pid].size() && queue[pid][next_queue[pid]].first <= t) {
      ++next_queue[pid];
    }
    ASSERT_GT(next_kv[pid], 0u);
    ASSERT_GT(next_queue[pid], 0u);
    EXPECT_EQ(kv[pid][next_kv[pid] - 1].second, it.kv_used_blocks);
    EXPECT_EQ(queue[pid][next_queue[pid] - 1].second, std::make_pair(it.waiting, it.running));
  }
  for (std::size_t k = 1; k <= replicas; ++k) {
    EXPECT_EQ(next_kv[k], kv[k].size());  // no sample after the last iteration's start
    if (compact) {
      EXPECT_LT(kv[k].size(), static_cast<std::size_t>(r.replicas[k - 1].iterations));
    } else {
      EXPECT_LE(kv[k].size(), static_cast<std::size_t>(r.replicas[k - 1].iterations));
    }
  }
}

// One flow per served or cached request, on the replica it was routed to (cached ones on the
// router), whose spans are the request's own times to the nanosecond.
void expect_request_spans(const json& events, const RunResult& r) {
  const int router = static_cast<int>(r.replicas.size()) + 1;
  std::int64_t served = 0;
  std::int64_t cached = 0;
  for (const auto& [key, f] : replay_async(events)) {
    const Span& outer = f.spans.front();
    const auto id = outer.args["request"].get<std::size_t>();
    ASSERT_LT(id, r.requests.size());
    const Request& q = r.requests[id];
    EXPECT_EQ(outer.begin, q.arrival.ns);
    EXPECT_EQ(outer.end, q.finish.ns);
    if (outer.name == "cached") {
      EXPECT_TRUE(q.cached);
      EXPECT_EQ(f.pid, router);
      EXPECT_EQ(f.spans.size(), 1u);
      ++cached;
      continue;
    }
    ASSERT_EQ(outer.name, "request");
    EXPECT_EQ(f.pid, q.replica + 1);
    ++served;
    expect_children_partition(f, key);
    for (std::size_t i = 1; i < f.spans.size(); ++i) {
      const Span& s = f.spans[i];
      if (s.name == "queued") {
        EXPECT_EQ(s.end, q.first_scheduled.ns);
      } else if (s.name == "prefill") {
        EXPECT_EQ(s.end, q.first_token.ns);
      }
    }
    EXPECT_EQ(outer.args["preemptions"], q.preemptions);
    // ttft_ms is written with six decimals: whole nanoseconds again.
    EXPECT_EQ(std::llround(outer.args["ttft_ms"].get<double>() * 1e6),
              (q.first_token - q.arrival).ns);
  }
  std::int64_t done = 0;
  std::int64_t hits = 0;
  for (const Request& q : r.requests) {
    done += q.state == RequestState::kDone && !q.cached;
    hits += q.cached;
  }
  EXPECT_EQ(served, done);
  EXPECT_EQ(cached, hits);
}

// One instant per rejected request, at its arrival, with its reason; returns how many.
std::int64_t expect_rejections(const json& events, const RunResult& r) {
  std::int64_t instants = 0;
  std::int64_t rejected = 0;
  for (const json& e : events) {
    if (e["ph"] != "i") continue;
    EXPECT_EQ(e["name"], "rejected");
    const Request& q = r.requests.at(e["args"]["request"].get<std::size_t>());
    EXPECT_EQ(q.state, RequestState::kRejected);
    EXPECT_EQ(e["args"]["reason"], reject_reason_text(q.reject));
    EXPECT_EQ(ns(e["ts"]), q.arrival.ns);
    ++instants;
  }
  for (const Request& q : r.requests) rejected += q.state == RequestState::kRejected;
  EXPECT_EQ(instants, rejected);
  return rejected;
}

TEST(ChromeTrace, SpansNestAndAddUpIterationsTileTheBusyTime) {
  for (std::size_t c = 0; c < kConfigs.size(); ++c) {
    for (std::uint64_t seed = 1; seed <= 2; ++seed) {
      SCOPED_TRACE(fmt::format("config {} seed {}", c, seed));
      const RunResult r = run(kConfigs[c], seed);
      const std::string text = trace_text(r);
      expect_whole_nanoseconds(text);
      const json doc = json::parse(text);
      ASSERT_TRUE(doc.contains("displayTimeUnit"));
      const json& events = doc["traceEvents"];
      const auto pids = pid_by_process_name(events);
      // replica k is process k + 1, named with its tp and GPU: "replica 0 (1 GPU of h100-sxm)".
      for (std::size_t k = 0; k < r.replicas.size(); ++k) {
        EXPECT_EQ(pids.at(fmt::format("replica {} (1 GPU of h100-sxm)", k)),
                  static_cast<int>(k) + 1);
      }
      expect_iterations_tile_busy_time(events, r);
      expect_counters_follow_the_log(events, r);
      expect_request_spans(events, r);
      const std::int64_t rejected = expect_rejections(events, r);
      const auto hits = std::count_if(r.requests.begin(), r.requests.end(),
                                      [](const Request& q) { return q.cached; });
      if (c == 1) {  // the test covers rejections...
        EXPECT_GT(rejected, 0);
      }
      if (c == 5) {  // ... and cache hits
        EXPECT_GT(hits, 0);
      }
      // The router process follows the replicas, and is there only when it has events.
      EXPECT_EQ(pids.count("router"), rejected + hits > 0 ? 1u : 0u);
      if (rejected + hits > 0) {
        EXPECT_EQ(pids.at("router"), static_cast<int>(r.replicas.size()) + 1);
      }

      if (seed == 1) {
        EXPECT_EQ(text, trace_text(run(kConfigs[c], seed)));  // same seed, same bytes
      }
    }
  }
}

// What a window shows, computed from the run: the part of [b, e] inside [w0, w1), if any.
std::optional<std::pair<std::int64_t, std::int64_t>> overlap(std::int64_t b, std::int64_t e,
                                                             std::int64_t w0, std::int64_t w1) {
  const bool shown = b == e ? (w0 <= b && b < w1) : (b < w1 && w0 < e);
  if (!shown) return std::nullopt;
  return std::make_pair(std::max(b, w0), std::min(e, w1));
}

TEST(ChromeTrace, WindowShowsOnlyWhatOverlapsItCutAtTheEdges) {
  for (std::size_t c : {0u, 3u, 5u}) {
    SCOPED_TRACE(fmt::format("config {}", c));
    const RunResult r = run(kConfigs[c], 7);
    // The middle third of the run.
    const std::int64_t w0 = r.end.ns / 3;
    const std::int64_t w1 = 2 * r.end.ns / 3;
    const json doc = json::parse(trace_text(r, TraceWindow{SimTime{w0}, SimTime{w1}}));
    const json& events = doc["traceEvents"];

    // Nothing outside [w0, w1): every event starts in it and every span ends by w1.
    for (const json& e : events) {
      if (e["ph"] == "M") continue;
      const std::int64_t ts = ns(e["ts"]);
      EXPECT_GE(ts, w0) << e.dump();
      EXPECT_LE(ts + (e.contains("dur") ? ns(e["dur"]) : 0), w1) << e.dump();
      if (e["ph"] == "i" || e["ph"] == "C") {
        EXPECT_LT(ts, w1) << e.dump();
      }
    }

    // Iterations: exactly those overlapping the window, each cut to it, marked when cut.
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> expected(r.replicas.size());
    std::vector<std::vector<bool>> expected_clipped(r.replicas.size());
    for (const IterationRecord& it : r.iterations) {
      if (auto o = overlap(it.start.ns, it.end.ns, w0, w1)) {
        expected[it.replica].push_back(*o);
        expected_clipped[it.replica].push_back(it.start.ns < w0 || it.end.ns > w1);
      }
    }
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> got(r.replicas.size());
    std::vector<std::vector<bool>> got_clipped(r.replicas.size());
    std::vector<bool> counter_at_w0(r.replicas.size(), false);
    for (const json& e : events) {
      if (e["ph"] == "X") {
        const std::size_t k = e["pid"].get<std::size_t>() - 1;
        got[k].emplace_back(ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]));
        got_clipped[k].push_back(e["args"].value("clipped", false));
      } else if (e["ph"] == "C" && e["name"] == "KV blocks" && ns(e["ts"]) == w0) {
        counter_at_w0[e["pid"].get<std::size_t>() - 1] = true;
      }
    }
    for (std::size_t k = 0; k < r.replicas.size(); ++k) {
      EXPECT_EQ(got[k], expected[k]);
      EXPECT_EQ(got_clipped[k], expected_clipped[k]);
      // Each replica started an iteration before w0 (a third of the way into a busy run), so
      // its counters' value at w0 is written there.
      EXPECT_TRUE(counter_at_w0[k]) << k;
    }

    // Requests: exactly those whose life overlaps the window, cut to it; the cut children
    // still tile the cut request span.
    std::set<std::size_t> expected_ids;
    for (std::size_t i = 0; i < r.requests.size(); ++i) {
      const Request& q = r.requests[i];
      if (q.state == RequestState::kRejected) continue;
      if (overlap(q.arrival.ns, q.finish.ns, w0, w1)) expected_ids.insert(i);
    }
    std::set<std::size_t> ids;
    for (const auto& [key, f] : replay_async(events)) {
      const Span& outer = f.spans.front();
      const auto id = outer.args["request"].get<std::size_t>();
      ids.insert(id);
      const Request& q = r.requests[id];
      const auto o = overlap(q.arrival.ns, q.finish.ns, w0, w1);
      ASSERT_TRUE(o.has_value());
      EXPECT_EQ(outer.begin, o->first);
      EXPECT_EQ(outer.end, o->second);
      EXPECT_EQ(outer.args.value("clipped", false), q.arrival.ns < w0 || q.finish.ns > w1);
      if (outer.name == "request") expect_children_partition(f, key);
    }
    EXPECT_EQ(ids, expected_ids);
    EXPECT_FALSE(ids.empty());
  }
}

// A run built by hand, to check the written numbers themselves.
RunResult tiny_run() {
  RunResult r;
  r.scenario.name = "tiny";
  PoolSetup pool;
  pool.name = "default";
  pool.gpu.name = "h100-sxm";
  pool.kv_blocks = 100;
  r.deployment.pools = {pool};
  r.replicas.resize(1);
  r.replica_pool = {0};
  r.replicas[0].iterations = 2;
  r.replicas[0].busy = SimTime{1'999'000 + 1'000'001};
  // A prefill of 1 prompt (512 tokens) from 1.000 µs to 2.000000 ms, then a decode of it to
  // 3.000001 ms.
  r.iterations.push_back({SimTime{1'000}, SimTime{2'000'000}, 0, 1, 512, 0, 32, 0, 1});
  r.iterations.push_back({SimTime{2'000'000}, SimTime{3'000'001}, 0, 0, 0, 1, 33, 0, 1});
  Request q;
  q.arrival = SimTime{250};
  q.first_scheduled = SimTime{1'000};
  q.first_token = SimTime{2'000'000};
  q.finish = q.last_token = SimTime{3'000'001};
  q.prompt_tokens = 512;
  q.output_tokens = 2;
  q.replica = 0;
  q.state = RequestState::kDone;
  r.requests.push_back(q);
  r.end = SimTime{3'000'001};
  return r;
}

TEST(ChromeTrace, WritesExactMicrosecondsAndCutsAtTheWindow) {
  const RunResult r = tiny_run();
  const std::string whole = trace_text(r);
  // 250 ns is 0.250 µs; 3,000,001 ns is 3000.001 µs: nothing is rounded away.
  EXPECT_NE(whole.find(R"("name":"request","pid":1,"tid":1,"id2":{"local":"0x0"},"ts":0.250,)"),
            std::string::npos)
      << whole;
  EXPECT_NE(whole.find(R"("name":"decode","pid":1,"tid":1,"id2":{"local":"0x0"},"ts":3000.001})"),
            std::string::npos);
  // TTFT 2,000,000 − 250 = 1,999,750 ns = 1.999750 ms; E2E 3,000,001 − 250 = 2,999,751 ns.
  EXPECT_NE(whole.find(R"("ttft_ms":1.999750,"e2e_ms":2.999751,)"), std::string::npos) << whole;
  // The prefill iteration: 1.000 µs + 1,999,000 ns = 1999.000 µs; KV 32 of 100 blocks.
  EXPECT_NE(whole.find(R"("name":"prefill","pid":1,"tid":1,"ts":1.000,"dur":1999.000,)"),
            std::string::npos);
  EXPECT_NE(
      whole.find(R"("name":"KV fraction","pid":1,"tid":1,"ts":1.000,"args":{"used":0.3200}})"),
      std::string::npos);

  // Window [1.5 ms, 2.5 ms): the prefill iteration is cut to 1500.000..2000.000 µs and the
  // decode one to 2000.000..2500.000 µs; the request span to 1500.000..2500.000 µs with its
  // prefill (500 µs) and decode (500 µs) phases, and the queue (0.25..1 µs) is left out.
  const json doc =
      json::parse(trace_text(r, TraceWindow{SimTime{1'500'000}, SimTime{2'500'000}}));
  std::vector<std::string> spans;
  for (const json& e : doc["traceEvents"]) {
    if (e["ph"] == "X") {
      spans.push_back(fmt::format("X {} {} {} {}", e["name"].get<std::string>(), ns(e["ts"]),
                                  ns(e["dur"]), e["args"].value("clipped", false)));
    } else if (e["ph"] == "b" || e["ph"] == "e") {
      spans.push_back(fmt::format("{} {} {}", e["ph"].get<std::string>(),
                                  e["name"].get<std::string>(), ns(e["ts"])));
    } else if (e["ph"] == "C" && e["name"] == "KV blocks") {
      spans.push_back(fmt::format("C {} {}", ns(e["ts"]), e["args"]["used"].get<int>()));
    }
  }
  const std::vector<std::string> expected = {
      "C 1500000 32",  // the prefill's sample, in force when the window opens
      "X prefill 1500000 500000 true",
      "C 2000000 33",
      "X decode 2000000 500000 true",
      "b request 1500000",
      "b prefill 1500000",
      "e prefill 2000000",
      "b decode 2000000",
      "e decode 2500000",
      "e request 2500000",
  };
  EXPECT_EQ(spans, expected);
  EXPECT_EQ(doc["otherData"]["window"], "0.001500000:0.002500000 s");
}

// A disaggregated run: each transferred request has spans on both instances, a span on the
// network track and an arrow between the instances, all at its own times.
TEST(ChromeTrace, TransfersShowOnBothInstancesAndTheNetwork) {
  const std::string pd = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[[cluster.pool]]
name = "prefill"
role = "prefill"
replicas = 2
[[cluster.pool]]
name = "decode"
role = "decode"
replicas = 2
[engine]
scheduler = "mixed"
[disaggregation]
transfer = "layerwise"
[workload]
requests = 120
rate = 10
prompt_tokens = { distribution = "lognormal", mean = 1500, stddev = 800, min = 16, max = 6000 }
output_tokens = { distribution = "uniform", min = 2, max = 200 }
)";
  Simulator sim(testing::scenario_from("pdtrace", pd), testing::catalog());
  sim.record_iterations();
  const RunResult r = sim.run();
  const std::string text = trace_text(r);
  expect_whole_nanoseconds(text);
  const json events = json::parse(text)["traceEvents"];
  const auto pids = pid_by_process_name(events);
  // Pools are named on their replicas: "prefill replica 0 (1 GPU of h100-sxm)", ...
  EXPECT_EQ(pids.at("prefill replica 1 (1 GPU of h100-sxm)"), 2);
  EXPECT_EQ(pids.at("decode replica 2 (1 GPU of h100-sxm)"), 3);
  const int network = pids.at("network");
  EXPECT_EQ(network, static_cast<int>(r.replicas.size()) + 2);
  expect_iterations_tile_busy_time(events, r);
  expect_counters_follow_the_log(events, r, false);
  // The network's spans and arrows, by request.
  std::map<std::size_t, std::pair<std::int64_t, std::int64_t>> spans;
  std::map<std::size_t, std::pair<int, int>> arrows;  // pid of "s", pid of "f"
  for (const json& e : events) {
    if (e.value("cat", "") != "transfer") continue;
    const std::string ph = e["ph"];
    if (ph == "b") {
      EXPECT_EQ(e["pid"], network);
      spans[e["args"]["request"].get<std::size_t>()].first = ns(e["ts"]);
    } else if (ph == "e") {
      spans[std::stoul(e["id2"]["local"].get<std::string>(), nullptr, 16)].second = ns(e["ts"]);
    } else if (ph == "s") {
      arrows[e["id"].get<std::size_t>()].first = e["pid"];
    } else if (ph == "f") {
      arrows[e["id"].get<std::size_t>()].second = e["pid"];
    }
  }
  std::size_t transferred = 0;
  for (std::size_t i = 0; i < r.requests.size(); ++i) {
    const Request& q = r.requests[i];
    if (q.handoff != Handoff::kTransferred) continue;
    ++transferred;
    const TransferRecord& t = r.transfers.at(static_cast<std::size_t>(q.transfer));
    ASSERT_EQ(spans.count(i), 1u);
    EXPECT_EQ(spans[i].first, t.start.ns);
    EXPECT_EQ(spans[i].second, t.end.ns);
    EXPECT_EQ(arrows[i], std::make_pair(t.from + 1, t.to + 1));
  }
  EXPECT_GT(transferred, 100u);
  EXPECT_EQ(spans.size(), transferred);
  // Per request: its spans on the prefill instance end when its KV has left, those on the
  // decode instance begin with the first byte; each set of children tiles its parent.
  std::size_t on_prefill = 0;
  std::size_t on_decode = 0;
  for (const auto& [key, f] : replay_async(events)) {
    const Span& outer = f.spans.front();
    const Request& q = r.requests.at(outer.args["request"].get<std::size_t>());
    expect_children_partition(f, key);
    if (q.handoff != Handoff::kTransferred) continue;
    const TransferRecord& t = r.transfers.at(static_cast<std::size_t>(q.transfer));
    if (f.pid == t.from + 1) {
      ++on_prefill;
      EXPECT_EQ(outer.begin, q.arrival.ns);
      EXPECT_EQ(outer.end, t.end.ns);
      EXPECT_EQ(f.spans.back().name, "holding KV");
      EXPECT_EQ(f.spans.back().begin, t.prefill_end.ns);
    } else {
      ++on_decode;
      EXPECT_EQ(f.pid, q.replica + 1);
      EXPECT_EQ(outer.begin, t.start.ns);
      EXPECT_EQ(outer.end, q.finish.ns);
      ASSERT_EQ(f.spans.size(), 3u);
      EXPECT_EQ(f.spans[1].name, "KV transfer");
      EXPECT_EQ(f.spans[2].name, "decode");
    }
  }
  EXPECT_EQ(on_prefill, transferred);
  EXPECT_EQ(on_decode, transferred);
}

TEST(ChromeTrace, ParsesWindows) {
  // Seconds to nanoseconds: 0.5 s = 500,000,000 ns; 1.25 s = 1,250,000,000 ns.
  const TraceWindow w = parse_trace_window("0.5:1.25");
  EXPECT_EQ(w.start.ns, 500'000'000);
  EXPECT_EQ(w.end.ns, 1'250'000'000);
  EXPECT_EQ(parse_trace_window("10:").start.ns, 10'000'000'000);
  EXPECT_EQ(parse_trace_window("10:").end, SimTime::never());
  EXPECT_EQ(parse_trace_window(":5").start.ns, 0);
  EXPECT_EQ(parse_trace_window(":5").end.ns, 5'000'000'000);
}

TEST(ChromeTrace, BadWindowsSayWhatIsValid) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"5:5", "END (5 s) is not after START (5 s)"},
      {"5:3", "is not after START"},
      {"-1:3", "START -1 is negative"},
      {":-2", "END -2 is negative"},
      {"a:3", "START \"a\" is not a number"},
      {"1:2s", "END \"2s\" is not a number"},
      {"nan:", "is not a number"},
      {"3", "needs exactly one ':'"},
      {"1:2:3", "needs exactly one ':'"},
      {"", "needs exactly one ':'"},
  };
  for (const auto& [text, why] : cases) {
    try {
      parse_trace_window(text);
      ADD_FAILURE() << "accepted \"" << text << "\"";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("--trace-window \"" + text + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find(why), std::string::npos) << msg;
      EXPECT_NE(msg.find("expected START:END in seconds"), std::string::npos) << msg;
    }
  }
}

std::pair<int, std::string> run_cli(const std::string& args) {
  const std::string cmd = std::string(SERVESIM_BINARY) + " run " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  const int status = p ? pclose(p) : -1;
  return {WEXITSTATUS(status), out};
}

TEST(ChromeTrace, CliWritesTheTraceAndRejectsAWindowWithoutIt) {
  const std::string scenario = testing::write_temp("cli_trace.toml", kScenario);
  const std::string file = testing::write_temp("cli_trace.json", "");
  const auto [rc, out] = run_cli(scenario + " --trace " + file + " --trace-window 1:2");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("wrote " + file), std::string::npos) << out;
  std::ifstream in(file);
  const json doc = json::parse(in);
  EXPECT_GT(doc["traceEvents"].size(), 10u);

  const auto [rc2, out2] = run_cli(scenario + " --trace-window 1:2");
  EXPECT_EQ(rc2, 2);
  EXPECT_NE(out2.find("error: --trace-window needs --trace FILE"), std::string::npos) << out2;
  const auto [rc3, out3] = run_cli(scenario + " --trace " + file + " --trace-window 2:1");
  EXPECT_EQ(rc3, 2);
  EXPECT_NE(out3.find("error: --trace-window \"2:1\""), std::string::npos) << out3;
}

}  // namespace
}  // namespace servesim
