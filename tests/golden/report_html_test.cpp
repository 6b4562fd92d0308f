// `servesim report` pages opened in headless Chromium: the page loads, logs no console error,
// and every plot is in the rendered document as a <figure id=...> holding an <svg>.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.hpp"

namespace servesim {
namespace {

namespace fs = std::filesystem;
using testing::Ran;
using testing::scratch;
using testing::shell;
using testing::slurp;

std::string chromium_path() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    FILE* p = popen((std::string("command -v ") + name + " 2>/dev/null").c_str(), "r");
    if (!p) continue;
    char buf[512] = {};
    const bool found = fgets(buf, sizeof buf, p) != nullptr;
    pclose(p);
    if (found) {
      std::string path = buf;
      while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
      return path;
    }
  }
  return "";
}

// Loads the page in headless Chromium (private profile, bounded time) and returns the
// serialized DOM and Chromium's log (page console messages appear there as "CONSOLE" lines).
Ran open_in_chromium(const fs::path& html, const fs::path& dir, const std::string& mode = "--dump-dom") {
  const std::string chromium = chromium_path();
  if (chromium.empty()) {
    ADD_FAILURE() << "chromium is not installed; the report tests need it: run ./setup.sh";
    return {};
  }
  const fs::path profile = dir / "chromium-profile";
  return shell("timeout 120 " + chromium +
                   " --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions"
                   " --enable-logging=stderr --v=0 --user-data-dir=" + profile.string() +
                   " " + mode + " file://" + fs::absolute(html).string(),
               dir);
}

// The console lines of Chromium's log, or "" when there are none.
std::string console_errors(const std::string& log) {
  std::istringstream in(log);
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.find("CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) {
      found += line + "\n";
    }
  }
  return found;
}

// Every id names a <figure> of the DOM with an <svg> inside it.
void expect_figures(const std::string& dom, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    const auto at = dom.find("<figure id=\"" + id + "\"");
    ASSERT_NE(at, std::string::npos) << "no figure " << id;
    const auto end = dom.find("</figure>", at);
    const auto svg = dom.find("<svg", at);
    EXPECT_TRUE(svg != std::string::npos && svg < end) << "figure " << id << " has no <svg>";
  }
}

// The page is self-contained: no scripts, and no URL other than the SVG namespace.
void expect_self_contained(const std::string& html) {
  EXPECT_EQ(html.find("<script"), std::string::npos);
  std::size_t urls = 0, namespaces = 0;
  for (auto at = html.find("http"); at != std::string::npos; at = html.find("http", at + 1)) ++urls;
  const std::string ns = "\"http://www.w3.org/2000/svg\"";
  for (auto at = html.find(ns); at != std::string::npos; at = html.find(ns, at + 1)) ++namespaces;
  EXPECT_EQ(urls, namespaces) << "the page refers to something outside itself";
}

const std::string kBinary = SERVESIM_BINARY;

TEST(ReportHtml, RunFolderPageLoadsInChromiumWithEveryPlot) {
  const fs::path dir = scratch("report-run");
  const fs::path scenario = dir / "small.toml";
  std::ofstream(scenario) << R"(name = "report-check"
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[cluster]
replicas = 2
[engine]
max_num_seqs = 32
[workload]
requests = 300
arrival = "poisson"
rate = 20
prompt_tokens = { distribution = "lognormal", mean = 800, stddev = 500, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
[slo]
ttft_ms = 500
)";
  const fs::path out = dir / "out";
  Ran run = shell(kBinary + " run " + scenario.string() + " --out " + out.string(), dir);
  ASSERT_EQ(run.status, 0) << run.err;
  Ran report = shell(kBinary + " report " + out.string(), dir);
  ASSERT_EQ(report.status, 0) << report.err;
  EXPECT_NE(report.out.find("report.html"), std::string::npos);
  const std::string html = slurp(out / "report.html");
  expect_self_contained(html);
  EXPECT_NE(html.find("report-check"), std::string::npos);  // the scenario's name
  EXPECT_NE(html.find("TTFT"), std::string::npos);          // the latency table

  const Ran page = open_in_chromium(out / "report.html", dir);
  ASSERT_EQ(page.status, 0) << page.err;
  EXPECT_EQ(console_errors(page.err), "");
  expect_figures(page.out, {"ttft-cdf", "tpot-cdf", "e2e-cdf", "ttft-by-prompt",
                            "itl-by-position", "kv-cache", "queue"});

  // The same folder gives the same page, byte for byte.
  ASSERT_EQ(shell(kBinary + " report " + out.string() + " --out " + (dir / "again.html").string(), dir).status, 0);
  EXPECT_EQ(slurp(dir / "again.html"), html);
}

TEST(ReportHtml, SweepFolderPageLoadsInChromiumWithEveryPlot) {
  const fs::path dir = scratch("report-sweep");
  std::ofstream(dir / "sweep.csv")
      << "point,workload.rate,engine.max_num_seqs,seeds,requests_per_s,output_tokens_per_s,"
         "ttft_p99_ms,tpot_p99_ms,e2e_p50_ms,slo_attainment,overloaded,new_metric\n"
         "0,5,64,1,4.9,980.2,120.5,22.1,2100.3,1.0,false,7\n"
         "1,20,64,1,15.2,3050.7,2400.9,41.3,9800.1,0.62,true,7\n"
         "2,5,128,1,4.9,981.0,118.2,23.0,2080.9,1.0,false,7\n"
         "3,20,128,1,17.9,3590.2,900.4,48.8,5200.6,0.81,false,7\n";
  std::ofstream(dir / "pareto.svg")
      << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
         "width=\"100\" height=\"50\"><rect width=\"100\" height=\"50\" fill=\"#eee\"/></svg>\n";
  Ran report = shell(kBinary + " report " + dir.string() + " --out " + (dir / "page.html").string(), dir);
  ASSERT_EQ(report.status, 0) << report.err;
  const std::string html = slurp(dir / "page.html");
  expect_self_contained(html);
  EXPECT_NE(html.find("<th>new_metric</th>"), std::string::npos);  // unknown columns are shown
  EXPECT_EQ(html.find("<?xml"), std::string::npos);  // the included SVG lost its declaration

  const Ran page = open_in_chromium(dir / "page.html", dir);
  ASSERT_EQ(page.status, 0) << page.err;
  EXPECT_EQ(console_errors(page.err), "");
  expect_figures(page.out, {"sweep-throughput", "sweep-ttft-p99", "sweep-tpot-p99",
                            "sweep-e2e-p50", "file-pareto"});
}

// Llama-3-8B on an H100 with ShareGPT-like lengths and a P99 SLO: sweeps and plans of it
// run in well under a second.
const char* kSweepPlanScenario = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 100
arrival = "poisson"
rate = 4
prompt_tokens = { distribution = "lognormal", mean = 800, stddev = 400, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
[slo]
ttft_ms = 500
tpot_ms = 50
)";

TEST(ReportHtml, RealSweepAndPlanFoldersLoadInChromium) {
  // Folders written by servesim sweep and servesim plan themselves, not by hand.
  const fs::path dir = scratch("report-sweep-plan");
  const fs::path scenario = dir / "s.toml";
  std::ofstream(scenario) << "name = \"report-sweep-plan\"\n" << kSweepPlanScenario;
  const fs::path sweep = dir / "sweep";
  const fs::path plan = dir / "plan";
  ASSERT_EQ(shell(kBinary + " sweep " + scenario.string() + " --vary workload.rate=2:32:x2 " +
                      "--vary engine.max_num_seqs=32,128 --out " + sweep.string(), dir)
                .status,
            0);
  ASSERT_EQ(shell(kBinary + " plan " + scenario.string() + " --rate 10 --gpus h100-sxm,h200 " +
                      "--tp 1,2 --out " + plan.string(), dir)
                .status,
            0);
  for (const auto& [folder, figures] :
       std::vector<std::pair<fs::path, std::vector<std::string>>>{
           {sweep, {"sweep-throughput", "sweep-ttft-p99", "file-pareto", "file-knee"}},
           {plan, {"file-plan"}}}) {
    Ran report = shell(kBinary + " report " + folder.string(), dir);
    ASSERT_EQ(report.status, 0) << report.err;
    expect_self_contained(slurp(folder / "report.html"));
    const Ran page = open_in_chromium(folder / "report.html", dir);
    ASSERT_EQ(page.status, 0) << page.err;
    EXPECT_EQ(console_errors(page.err), "") << folder;
    expect_figures(page.out, figures);
  }
}

// A PNG's width, from its IHDR chunk (bytes 16-19, big-endian); 0 when it is not a PNG.
std::uint32_t png_width(const fs::path& png) {
  const std::string bytes = slurp(png);
  if (bytes.size() < 24 || bytes.compare(1, 3, "PNG") != 0) return 0;
  std::uint32_t w = 0;
  for (int i = 16; i < 20; ++i) w = (w << 8) | static_cast<unsigned char>(bytes[i]);
  return w;
}

// The page with a script that, once laid out, records on <body data-overflow=...> what is
// wider than its box: the page against the window, each .table-wrap against its own width.
std::string with_overflow_probe(std::string html) {
  const std::string probe =
      "<script>{const o=[];const d=document.documentElement;"
      "if(d.scrollWidth>window.innerWidth)o.push('page '+d.scrollWidth+'>'+window.innerWidth);"
      "document.querySelectorAll('.table-wrap').forEach((e,i)=>{if(e.scrollWidth>e.clientWidth)"
      "o.push('table '+i+': '+e.scrollWidth+'>'+e.clientWidth)});"
      "document.body.setAttribute('data-overflow',o.join('; ')||'none');}</script>";
  const auto at = html.rfind("</body>");
  return html.insert(at == std::string::npos ? html.size() : at, probe);
}

std::string overflow_of(const std::string& dom) {
  const std::string key = "data-overflow=\"";
  const auto at = dom.find(key);
  if (at == std::string::npos) return "no probe result";
  return dom.substr(at + key.size(), dom.find('"', at + key.size()) - at - key.size());
}

TEST(ReportHtml, PlanPageFitsA1400PixelWindowWithTheKeyColumnsFirst) {
  const fs::path dir = scratch("report-plan-width");
  const fs::path scenario = dir / "s.toml";
  std::ofstream(scenario) << "name = \"plan-width\"\n" << kSweepPlanScenario;
  // Three knobs, one of them a long distribution, two GPUs and two tp degrees: some 20
  // columns, the kind of table that scrolled sideways when every field was a column.
  const fs::path plan = dir / "plan";
  const std::string vary =
      " --vary engine.scheduler=mixed,chunked --vary engine.chunk_size=256,512"
      " --vary 'workload.output_tokens={ distribution = \"uniform\", min = 20, max = 200 },"
      "{ distribution = \"uniform\", min = 200, max = 2000 }'";
  Ran made = shell(kBinary + " plan " + scenario.string() + " --rate 10 --gpus h100-sxm,h200 --tp 1,2" +
                       " --price h100-sxm=3 --price h200=4" + vary + " --out " + plan.string(),
                   dir);
  ASSERT_EQ(made.status, 0) << made.err;
  ASSERT_EQ(shell(kBinary + " report " + plan.string(), dir).status, 0);
  const std::string html = slurp(plan / "report.html");
  expect_self_contained(html);
  // The ranking's header starts with rank, GPU, layout, replicas, GPUs, $/hour, $/Mtok and
  // the binding limit, then the knobs.
  EXPECT_HAS(html, "<th>#</th><th class=\"text\">GPU</th><th class=\"text\">layout</th><th>replicas</th>"
                   "<th>GPUs</th><th>$/hour</th><th>$/Mtok</th><th class=\"text\">binding</th>"
                   "<th class=\"text\">scheduler</th>");
  std::ofstream(dir / "probed.html") << with_overflow_probe(html);
  const Ran page = open_in_chromium(dir / "probed.html", dir, "--window-size=1400,900 --dump-dom");
  ASSERT_EQ(page.status, 0) << page.err;
  EXPECT_EQ(console_errors(page.err), "");
  EXPECT_EQ(overflow_of(page.out), "none");
  // The screenshot at 1400 px, kept beside the page for a look.
  const fs::path shot = dir / "plan-1400.png";
  const Ran taken = open_in_chromium(plan / "report.html", dir,
                                     "--window-size=1400,900 --screenshot=" + shot.string());
  ASSERT_EQ(taken.status, 0) << taken.err;
  EXPECT_EQ(png_width(shot), 1400U);
}

// The probe sees overflow where there is some: a table too wide for a 1400 px window.
TEST(ReportHtml, TheOverflowProbeWouldSeeATableTooWide) {
  const fs::path dir = scratch("report-overflow-probe");
  std::string cells;
  for (int i = 0; i < 60; ++i) cells += "<td style=\"white-space:nowrap\">column-number-" + std::to_string(i) + "</td>";
  std::ofstream(dir / "wide.html") << with_overflow_probe(
      "<!DOCTYPE html><html><head><link rel=\"icon\" href=\"data:,\"><title>x</title></head><body>"
      "<div class=\"table-wrap\" style=\"overflow-x:auto\"><table><tr>" + cells +
      "</tr></table></div></body></html>\n");
  const Ran page = open_in_chromium(dir / "wide.html", dir, "--window-size=1400,900 --dump-dom");
  ASSERT_EQ(page.status, 0) << page.err;
  EXPECT_HAS(overflow_of(page.out), "table 0: ");
}

TEST(ReportHtml, ConsoleErrorsWouldBeSeen) {
  // The check above is only as good as Chromium's log: a page that does log an error must
  // be caught by it.
  const fs::path dir = scratch("report-console");
  std::ofstream(dir / "bad.html") << "<!DOCTYPE html><html><head><link rel=\"icon\" href=\"data:,\">"
                                     "<title>x</title></head><body><script>undefined_fn();</script>"
                                     "</body></html>\n";
  const Ran page = open_in_chromium(dir / "bad.html", dir);
  ASSERT_EQ(page.status, 0) << page.err;
  EXPECT_NE(console_errors(page.err), "");
}

TEST(ReportHtml, CliErrorsForBadFolders) {
  const fs::path dir = scratch("report-bad");
  Ran r = shell(kBinary + " report " + (dir / "missing").string(), dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no such folder"), std::string::npos) << r.err;

  fs::create_directories(dir / "empty");
  r = shell(kBinary + " report " + (dir / "empty").string(), dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("summary.json and requests.csv"), std::string::npos) << r.err;

  fs::create_directories(dir / "broken");
  std::ofstream(dir / "broken" / "summary.json") << "{}\n";
  std::ofstream(dir / "broken" / "requests.csv")
      << "id,replica,arrival_s,prompt_tokens,output_tokens,state,queue_ms,ttft_ms,e2e_ms,tpot_ms,"
         "preemptions,reject_reason\n0,0,zero,10,10,done,1,2,3,4,0,\"\"\n";
  r = shell(kBinary + " report " + (dir / "broken").string(), dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("requests.csv:2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("arrival_s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace servesim
