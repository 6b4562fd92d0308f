#include "sim/report/chrome_trace.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

// Nanoseconds written in a larger unit with every digit kept: {ns, 3} is microseconds, {ns, 6}
// milliseconds. Integer arithmetic, so "12.345" µs is exactly 12,345 ns and the written values
// add up exactly.
struct Decimal {
  std::int64_t ns;
  int digits;
};

}  // namespace
}  // namespace servesim

template <>
struct fmt::formatter<servesim::Decimal> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  auto format(servesim::Decimal d, fmt::format_context& ctx) const {
    std::int64_t scale = 1;
    for (int i = 0; i < d.digits; ++i) scale *= 10;
    const std::int64_t a = d.ns < 0 ? -d.ns : d.ns;
    return fmt::format_to(ctx.out(), "{}{}.{:0{}}", d.ns < 0 ? "-" : "", a / scale, a % scale,
                          d.digits);
  }
};

namespace servesim {
namespace {

Decimal us(std::int64_t ns) { return {ns, 3}; }
Decimal ms(SimTime t) { return {t.ns, 6}; }

// A JSON string literal, quotes and escapes included.
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

// Appends events to a buffer and hands it to the stream a megabyte at a time, so a long run's
// trace never sits whole in memory.
class EventWriter {
 public:
  explicit EventWriter(std::ostream& out) : out_(out) {}
  template <class... T>
  void event(fmt::format_string<T...> format, T&&... args) {
    text(count_ == 0 ? "\n" : ",\n");
    fmt::format_to(std::back_inserter(buf_), format, std::forward<T>(args)...);
    ++count_;
    if (buf_.size() >= kFlushBytes) flush();
  }
  void text(std::string_view s) { buf_.append(s); }
  void flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }
  std::int64_t count() const { return count_; }

 private:
  static constexpr std::size_t kFlushBytes = std::size_t{1} << 20;
  std::ostream& out_;
  fmt::memory_buffer buf_;
  std::int64_t count_ = 0;
};

// What a trace shows of the span [begin, end]: nothing when it lies outside the window, else
// the part inside. A span of no length is shown when its instant is inside.
struct Shown {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  bool clipped = false;
  std::int64_t dur() const { return end - begin; }
};

std::optional<Shown> clip(SimTime begin, SimTime end, const TraceWindow& w) {
  const bool overlaps =
      begin == end ? (w.start <= begin && begin < w.end) : (begin < w.end && w.start < end);
  if (!overlaps) return std::nullopt;
  Shown s{std::max(begin, w.start).ns, std::min(end, w.end).ns};
  s.clipped = s.begin != begin.ns || s.end != end.ns;
  return s;
}

bool inside(SimTime t, const TraceWindow& w) { return w.start <= t && t < w.end; }

const char* clipped_arg(bool clipped) { return clipped ? ",\"clipped\":true" : ""; }

// Process ids, which are also the ids of each process's one thread (Perfetto takes a thread
// id to name one thread across the whole trace, and keeps pid 0 for itself): replica i is
// i + 1, and the router, which rejects requests and answers cached ones, comes after them.
int replica_pid(std::size_t replica) { return static_cast<int>(replica) + 1; }

// A pipeline's stage threads: stage 0 is its process's own thread; later stages take ids past
// every process id.
int stage_tid(std::size_t process, std::size_t stage) {
  return stage == 0 ? replica_pid(process) : 1000000 + replica_pid(process) * 256 + static_cast<int>(stage);
}

std::string window_text(const TraceWindow& w) {
  const std::string end = w.end == SimTime::never() ? "" : fmt::format("{}", Decimal{w.end.ns, 9});
  return fmt::format("{}:{} s", Decimal{w.start.ns, 9}, end);
}

// Names process `index` (sorted by index) and its one thread.
void write_process(EventWriter& out, std::size_t index, const std::string& name,
                   const char* thread) {
  const int pid = replica_pid(index);
  out.event(R"({{"ph":"M","name":"process_name","pid":{0},"tid":{0},"args":{{"name":{1}}}}})",
            pid, quoted(name));
  out.event(R"({{"ph":"M","name":"process_sort_index","pid":{0},"tid":{0},)"
            R"("args":{{"sort_index":{1}}}}})",
            pid, index);
  out.event(R"({{"ph":"M","name":"thread_name","pid":{0},"tid":{0},"args":{{"name":"{1}"}}}})",
            pid, thread);
}

void write_metadata(EventWriter& out, const RunResult& run, bool router, bool network,
                    const TraceWindow& w) {
  nlohmann::ordered_json other;
  other["generator"] = "servesim";
  other["scenario"] = run.scenario.name;
  other["seed"] = std::to_string(run.scenario.seed);
  const PoolSetup& first = run.deployment.pools.front();
  other["model"] = first.model.name;
  other["gpu"] = first.gpu.name;
  other["tp"] = std::to_string(first.parallelism.tp);
  other["replicas"] = std::to_string(run.deployment.replicas());
  other["scheduler"] = first.engine.scheduler;
  other["router"] = run.scenario.cluster.router;
  const bool whole = w.start == SimTime{0} && w.end == SimTime::never();
  other["window"] = whole ? "whole run" : window_text(w);
  out.text(fmt::format("{{\"displayTimeUnit\":\"ms\",\"otherData\":{},\"traceEvents\":[",
                       other.dump()));

  const bool named_pools = run.deployment.pools.size() > 1;
  std::size_t pool_first = 0;  // the first engine of the current pool
  for (std::size_t i = 0; i < run.replicas.size(); ++i) {
    const PoolSetup& pool = run.pool_of(i);
    if (i > 0 && run.replica_pool[i] != run.replica_pool[i - 1]) pool_first = i;
    const int tp = pool.gpus_per_replica();
    const int pp = pool.parallelism.pp;
    // A pipelined replica's pp virtual engines share its GPUs: "replica R engine V".
    const std::string who =
        pp > 1 ? fmt::format("replica {} engine {}", (i - pool_first) / pp, (i - pool_first) % pp)
               : fmt::format("replica {}", i);
    write_process(out, i,
                  fmt::format("{}{} ({} GPU{} of {})", named_pools ? pool.name + " " : "", who,
                              tp, tp == 1 ? "" : "s", pool.gpu.name),
                  "iterations");
  }
  if (router) write_process(out, run.replicas.size(), "router", "rejected");
  if (network) write_process(out, run.replicas.size() + 1, "network", "KV transfers");
  // Each pipeline (a replica with pp > 1): a process after these, a thread per stage.
  for (std::size_t k = 0; k < run.pipelines.size(); ++k) {
    const PipelineStats& p = run.pipelines[k];
    const PoolSetup& pool = run.deployment.pools[p.pool];
    const std::size_t index = run.replicas.size() + 2 + k;
    write_process(out, index,
                  fmt::format("{}pipeline {} ({} stages of {} GPU{} of {})",
                              named_pools ? pool.name + " " : "", k, p.stage_busy.size(),
                              pool.parallelism.tp, pool.parallelism.tp == 1 ? "" : "s",
                              pool.gpu.name),
                  "stage 0");
    for (std::size_t st = 0; st < p.stage_busy.size(); ++st) {
      out.event(R"({{"ph":"M","name":"thread_name","pid":{0},"tid":{1},"args":{{"name":"stage {2}"}}}})",
                replica_pid(index), stage_tid(index, st), st);
    }
  }
}

// A replica's counter values as last written: a counter holds its value until the next sample,
// so a sample is written only when the value changes.
struct Counters {
  std::int64_t kv_used_blocks = -1;
  std::int32_t waiting = -1;
  std::int32_t running = -1;
};

// The replica's KV-cache use and queue as an iteration starts, shown at `at`.
void write_counters(EventWriter& out, const RunResult& run, const IterationRecord& it,
                    std::int64_t at, Counters& last) {
  const PoolSetup& pool = run.pool_of(it.replica);
  const std::int64_t kv_blocks = std::max<std::int64_t>(1, pool.kv_blocks / pool.parallelism.pp);
  const int pid = replica_pid(it.replica);
  if (it.kv_used_blocks != last.kv_used_blocks) {
    const double fraction =
        static_cast<double>(it.kv_used_blocks) / static_cast<double>(kv_blocks);
    out.event(R"({{"ph":"C","name":"KV blocks","pid":{0},"tid":{0},"ts":{1},)"
              R"("args":{{"used":{2}}}}})",
              pid, us(at), it.kv_used_blocks);
    out.event(R"({{"ph":"C","name":"KV fraction","pid":{0},"tid":{0},"ts":{1},)"
              R"("args":{{"used":{2:.4f}}}}})",
              pid, us(at), fraction);
  }
  if (it.waiting != last.waiting || it.running != last.running) {
    out.event(R"({{"ph":"C","name":"requests","pid":{0},"tid":{0},"ts":{1},)"
              R"("args":{{"waiting":{2},"running":{3}}}}})",
              pid, us(at), it.waiting, it.running);
  }
  last = {it.kv_used_blocks, it.waiting, it.running};
}

void write_iterations(EventWriter& out, const RunResult& run, const TraceWindow& w) {
  std::vector<Counters> last(run.replicas.size());
  if (w.start > SimTime{0}) {
    // The counters in force when the window opens: each replica's last sample before it,
    // unless the replica starts an iteration at that very instant.
    std::vector<const IterationRecord*> before(run.replicas.size(), nullptr);
    std::vector<bool> at_edge(run.replicas.size(), false);
    for (const IterationRecord& it : run.iterations) {
      if (it.start > w.start) break;
      if (it.start == w.start) at_edge[it.replica] = true;
      if (it.start < w.start) before[it.replica] = &it;
    }
    for (std::size_t r = 0; r < before.size(); ++r) {
      if (before[r] != nullptr && !at_edge[r]) {
        write_counters(out, run, *before[r], w.start.ns, last[r]);
      }
    }
  }
  for (const IterationRecord& it : run.iterations) {
    if (it.start >= w.end) break;  // the log is in start order
    if (inside(it.start, w)) write_counters(out, run, it, it.start.ns, last[it.replica]);
    const auto s = clip(it.start, it.end, w);
    if (!s) continue;
    out.event(R"({{"ph":"X","cat":"iteration","name":"{2}","pid":{0},"tid":{0},"ts":{1},"dur":{3},)"
              R"("args":{{"batch_size":{4},"tokens":{5},"prefill_seqs":{6},"prefill_tokens":{7},)"
              R"("decode_seqs":{8},"kv_used_blocks":{9},"waiting":{10},"running":{11}{12}}}}})",
              replica_pid(it.replica), us(s->begin), it.kind(), us(s->dur()),
              it.prefill_seqs + it.decode_seqs, it.prefill_tokens + it.decode_seqs, it.prefill_seqs,
              it.prefill_tokens, it.decode_seqs, it.kv_used_blocks, it.waiting, it.running,
              clipped_arg(s->clipped));
  }
}

// Nested async spans ("b" opens, "e" closes) share the request's id and category. Perfetto
// gathers every span named "request" of a replica into one track, as many rows deep as
// requests overlap. `args` is "" or the event's ,"args":{...}.
void async_event(EventWriter& out, char ph, int pid, std::uint32_t id, const char* name,
                 std::int64_t ts, const std::string& args = {}) {
  out.event(R"({{"ph":"{0}","cat":"request","name":"{1}","pid":{2},"tid":{2},)"
            R"("id2":{{"local":"0x{3:x}"}},"ts":{4}{5}}})",
            ph, name, pid, id, us(ts), args);
}

std::string request_args(const Request& r, std::uint32_t id, bool clipped) {
  return fmt::format(R"(,"args":{{"request":{},"prompt_tokens":{},"output_tokens":{},)"
                     R"("ttft_ms":{},"e2e_ms":{},"preemptions":{}{}}})",
                     id, r.prompt_tokens, r.output_tokens, ms(r.first_token - r.arrival),
                     ms(r.finish - r.arrival), r.preemptions, clipped_arg(clipped));
}

// Spans of one request on one replica's track: "request" around them, each phase of
// (name, from, to) inside it; a phase that took no time, such as the queue of a request
// scheduled the instant it arrived, is left out.
void write_spans(EventWriter& out, const Request& r, std::uint32_t id, int pid, SimTime begin,
                 SimTime end,
                 std::initializer_list<std::pair<const char*, std::pair<SimTime, SimTime>>> phases,
                 const TraceWindow& w) {
  const auto outer = clip(begin, end, w);
  if (!outer) return;
  async_event(out, 'b', pid, id, "request", outer->begin, request_args(r, id, outer->clipped));
  for (const auto& [name, span] : phases) {
    if (span.first >= span.second) continue;
    const auto s = clip(span.first, span.second, w);
    if (!s) continue;
    async_event(out, 'b', pid, id, name, s->begin,
                s->clipped ? R"(,"args":{"clipped":true})" : std::string());
    async_event(out, 'e', pid, id, name, s->end);
  }
  async_event(out, 'e', pid, id, "request", outer->end);
}

// A served request: "queued" (arrival to first scheduled), "prefill" (to its first token)
// and "decode" (to the last token). A request whose KV moved has two: on its prefill
// instance "queued", "prefill" and "holding KV" (until its KV has left); on its decode
// instance "KV transfer" (from its start) and "decode".
void write_served(EventWriter& out, const RunResult& run, const Request& r, std::uint32_t id,
                  const TraceWindow& w) {
  const int pid = replica_pid(static_cast<std::size_t>(r.replica));
  if (r.transfer < 0) {
    write_spans(out, r, id, pid, r.arrival, r.finish,
                {{"queued", {r.arrival, r.first_scheduled}},
                 {"prefill", {r.first_scheduled, r.first_token}},
                 {"decode", {r.first_token, r.finish}}},
                w);
    return;
  }
  const TransferRecord& t = run.transfers[static_cast<std::size_t>(r.transfer)];
  const int from = replica_pid(static_cast<std::size_t>(t.from));
  write_spans(out, r, id, from, r.arrival, t.end,
              {{"queued", {r.arrival, r.first_scheduled}},
               {"prefill", {r.first_scheduled, t.prefill_end}},
               {"holding KV", {t.prefill_end, t.end}}},
              w);
  write_spans(out, r, id, pid, t.start, r.finish,
              {{"KV transfer", {t.start, t.end}}, {"decode", {t.end, r.finish}}}, w);
}

// Each KV transfer as a span on the network track, and an arrow from its prefill instance to
// its decode instance (a flow event pair, drawn between the slices they bind to).
void write_transfer(EventWriter& out, const TransferRecord& t, std::uint32_t id, int network_pid,
                    const TraceWindow& w) {
  const auto s = clip(t.start, t.end, w);
  if (!s) return;
  const std::string args = fmt::format(
      R"(,"args":{{"request":{},"from_replica":{},"to_replica":{},"bytes":{:.0f},"ms":{}{}}})", id,
      t.from, t.to, t.bytes, ms(t.end - t.start), clipped_arg(s->clipped));
  out.event(R"({{"ph":"b","cat":"transfer","name":"KV transfer","pid":{0},"tid":{0},)"
            R"("id2":{{"local":"0x{1:x}"}},"ts":{2}{3}}})",
            network_pid, id, us(s->begin), args);
  out.event(R"({{"ph":"e","cat":"transfer","name":"KV transfer","pid":{0},"tid":{0},)"
            R"("id2":{{"local":"0x{1:x}"}},"ts":{2}}})",
            network_pid, id, us(s->end));
  if (!inside(t.start, w) || !inside(t.end, w)) return;
  out.event(R"({{"ph":"s","cat":"transfer","name":"KV","pid":{0},"tid":{0},"id":{1},"ts":{2}}})",
            replica_pid(static_cast<std::size_t>(t.from)), id, us(t.start.ns));
  out.event(R"({{"ph":"f","bp":"e","cat":"transfer","name":"KV","pid":{0},"tid":{0},"id":{1},)"
            R"("ts":{2}}})",
            replica_pid(static_cast<std::size_t>(t.to)), id, us(t.end.ns));
}

// The busiest links' use over time, one counter each (share of capacity, per recorded bin).
void write_link_counters(EventWriter& out, const RunResult& run, int network_pid,
                         const TraceWindow& w) {
  const NetworkResult& n = run.network;
  if (n.series.empty()) return;
  const double width = n.bin_width.seconds().value;
  for (std::size_t l : n.busiest(8)) {
    const std::vector<double>& bins = n.series[l];
    double last = -1.0;  // a counter holds its value: write only changes
    for (std::size_t b = 0; b <= bins.size(); ++b) {
      const SimTime at{static_cast<std::int64_t>(b) * n.bin_width.ns};
      if (!inside(at, w)) continue;
      const double used = b < bins.size() ? bins[b] / (n.links[l].capacity * width) : 0.0;
      if (used == last) continue;
      last = used;
      out.event(R"({{"ph":"C","name":{0},"pid":{1},"tid":{1},"ts":{2},)"
                R"("args":{{"used":{3:.4f}}}}})",
                quoted("link " + n.links[l].name), network_pid, us(at.ns), used);
    }
  }
}

void write_router_event(EventWriter& out, const Request& r, std::uint32_t id, int pid,
                        const TraceWindow& w) {
  if (r.state == RequestState::kRejected) {
    if (!inside(r.arrival, w)) return;
    out.event(R"({{"ph":"i","s":"t","cat":"request","name":"rejected","pid":{0},"tid":{0},)"
              R"("ts":{1},"args":{{"request":{2},"prompt_tokens":{3},"output_tokens":{4},)"
              R"("reason":{5}}}}})",
              pid, us(r.arrival.ns), id, r.prompt_tokens, r.output_tokens,
              quoted(reject_reason_text(r.reject)));
    return;
  }
  const auto s = clip(r.arrival, r.finish, w);
  if (!s) return;
  const std::string args =
      fmt::format(R"(,"args":{{"request":{},"prompt_tokens":{},"output_tokens":{},)"
                  R"("e2e_ms":{}{}}})",
                  id, r.prompt_tokens, r.output_tokens, ms(r.finish - r.arrival),
                  clipped_arg(s->clipped));
  async_event(out, 'b', pid, id, "cached", s->begin, args);
  async_event(out, 'e', pid, id, "cached", s->end);
}

bool at_router(const Request& r) { return r.state == RequestState::kRejected || r.cached; }

}  // namespace

TraceWindow parse_trace_window(const std::string& text) {
  auto fail = [&](const std::string& why) {
    return Error(fmt::format("--trace-window \"{}\": {}; expected START:END in seconds of "
                             "simulated time, END after START, either side may be empty "
                             "(e.g. 10:20, 10: or :5)",
                             text, why));
  };
  const auto colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) {
    throw fail("needs exactly one ':'");
  }
  auto side = [&](std::string_view s, const char* which) -> std::optional<SimTime> {
    if (s.empty()) return std::nullopt;
    double v = 0.0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || !std::isfinite(v)) {
      throw fail(fmt::format("{} \"{}\" is not a number", which, s));
    }
    if (v < 0.0) throw fail(fmt::format("{} {} is negative", which, s));
    if (v > 1e9) throw fail(fmt::format("{} {} is beyond 1e9 seconds", which, s));
    return SimTime::from_seconds(Seconds(v));
  };
  TraceWindow w;
  const std::string_view all(text);
  if (auto start = side(all.substr(0, colon), "START")) w.start = *start;
  if (auto end = side(all.substr(colon + 1), "END")) w.end = *end;
  if (w.end <= w.start) {
    throw fail(fmt::format("END ({} s) is not after START ({} s)", w.end.seconds().value,
                           w.start.seconds().value));
  }
  return w;
}

std::int64_t write_chrome_trace(std::ostream& out, const RunResult& run, const TraceWindow& w) {
  std::int64_t iterations = 0;
  for (const ReplicaStats& r : run.replicas) iterations += r.iterations;
  if (iterations > 0 && run.iterations.empty()) {
    throw std::logic_error(
        "a Chrome trace needs the run's iterations (Simulator::record_iterations)");
  }
  bool router = false;
  for (const Request& r : run.requests) {
    if (at_router(r) && clip(r.arrival, r.finish, w)) router = true;
  }
  const bool network = run.network.built;
  EventWriter events(out);
  write_metadata(events, run, router, network, w);
  write_iterations(events, run, w);
  const int router_pid = replica_pid(run.replicas.size());
  const int network_pid = replica_pid(run.replicas.size() + 1);
  if (network) write_link_counters(events, run, network_pid, w);
  for (const StageRecord& st : run.stages) {
    const auto c = clip(st.start, st.end, w);
    if (!c) continue;
    const std::size_t process = run.replicas.size() + 2 + st.pipeline;
    events.event(R"({{"ph":"X","cat":"stage","name":"engine {3}","pid":{0},"tid":{1},"ts":{2},"dur":{4},)"
                 R"("args":{{"stage":{5}{6}}}}})",
                 replica_pid(process), stage_tid(process, static_cast<std::size_t>(st.stage)),
                 us(c->begin), st.engine, us(c->dur()), st.stage, clipped_arg(c->clipped));
  }
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    const Request& r = run.requests[i];
    const auto id = static_cast<std::uint32_t>(i);
    if (r.finish == SimTime::never()) continue;  // never finished: no span to draw
    if (at_router(r)) {
      write_router_event(events, r, id, router_pid, w);
    } else if (r.replica >= 0) {
      write_served(events, run, r, id, w);
      if (r.transfer >= 0) {
        write_transfer(events, run.transfers[static_cast<std::size_t>(r.transfer)], id, network_pid, w);
      }
    }
  }
  events.text("\n]}\n");
  events.flush();
  return events.count();
}

}  // namespace servesim
