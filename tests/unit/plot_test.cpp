#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "sim/report/plot.hpp"

namespace servesim::plot {
namespace {

// Checks that every tag is closed in order and every '&' starts an entity: enough to know
// that a browser's XML parser accepts the document.
::testing::AssertionResult well_formed(const std::string& svg) {
  std::vector<std::string> open;
  for (std::size_t i = 0; i < svg.size(); ++i) {
    if (svg[i] == '&') {
      const auto semi = svg.find(';', i);
      const std::string entity = svg.substr(i, semi == std::string::npos ? 8 : semi - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" &&
          entity != "&#39;") {
        return ::testing::AssertionFailure() << "bare & at " << i << ": " << entity;
      }
    }
    if (svg[i] != '<') continue;
    const auto end = svg.find('>', i);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "unclosed < at " << i;
    const std::string tag = svg.substr(i + 1, end - i - 1);
    if (tag.empty()) return ::testing::AssertionFailure() << "empty tag at " << i;
    if (tag.find('<') != std::string::npos) return ::testing::AssertionFailure() << "< in tag " << tag;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) {
        return ::testing::AssertionFailure() << "</" << tag.substr(1) << "> closes "
                                             << (open.empty() ? "nothing" : open.back());
      }
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end;
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> not closed";
  return ::testing::AssertionSuccess();
}

Series make(std::string label, std::vector<double> x, std::vector<double> y,
            Mark mark = Mark::kLine, double opacity = 1.0) {
  Series s;
  s.label = std::move(label);
  s.x = std::move(x);
  s.y = std::move(y);
  s.mark = mark;
  s.opacity = opacity;
  return s;
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST(PlotAxis, LinearTicksStepOneTwoOrFive) {
  // Range 97 over about 5 ticks: raw step 19.4 = 1.94 × 10, rounded up to 2 × 10 = 20;
  // 0 and 97 widen to the multiples of 20 around them, 0 and 100.
  Axis a = linear_axis(0, 97, 5);
  EXPECT_EQ(a.ticks, (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0", "20", "40", "60", "80", "100"}));
  EXPECT_EQ(a.lo, 0);
  EXPECT_EQ(a.hi, 100);

  // Raw step 0.074 / 4 = 0.0185 -> 0.02; 0.013 and 0.087 widen to 0 and 0.1. A step of 0.02
  // needs two decimals (ceil(-log10 0.02) = 2); zero is written "0".
  a = linear_axis(0.013, 0.087, 4);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0", "0.02", "0.04", "0.06", "0.08", "0.10"}));

  // Raw step 8000 = 8 × 1000 -> 10 × 1000; ticks reach 50000 (>= 10^4), so labels use k.
  a = linear_axis(0, 48000, 6);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0", "10k", "20k", "30k", "40k", "50k"}));

  // Raw step 0.9e6 -> 1e6; 1.2e6 and 3.9e6 widen to 1e6 and 4e6, written with M.
  a = linear_axis(1.2e6, 3.9e6, 3);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"1M", "2M", "3M", "4M"}));

  // Raw step 10 / 5 = 2; -3 and 7 widen to -4 and 8.
  a = linear_axis(-3, 7, 5);
  EXPECT_EQ(a.ticks, (std::vector<double>{-4, -2, 0, 2, 4, 6, 8}));
}

TEST(PlotAxis, DegenerateRangesWidenAroundTheirValue) {
  // 5 ± 10% = [4.5, 5.5]; raw step 1 / 4 = 0.25 -> 0.5, one decimal.
  Axis a = linear_axis(5, 5, 4);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"4.5", "5.0", "5.5"}));
  // Zero widens by ±1: raw step 2 / 4 = 0.5.
  a = linear_axis(0, 0, 4);
  EXPECT_EQ(a.ticks, (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  a = linear_axis(std::numeric_limits<double>::quiet_NaN(), 1, 4);
  EXPECT_FALSE(a.ticks.empty());
}

TEST(PlotAxis, LogTicksAreDecades) {
  // log10 3 = 0.48 -> decade 0; log10 4500 = 3.65 -> decade 4.
  Axis a = log_axis(3, 4500);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"1", "10", "100", "1k", "10k"}));
  EXPECT_EQ(a.lo, 1);
  EXPECT_EQ(a.hi, 10000);
  a = log_axis(0.002, 0.03);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0.001", "0.01", "0.1"}));
  // Within one decade, 2 and 5 are labelled too.
  a = log_axis(300, 700);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"100", "200", "500", "1k"}));
  // 14 decades: every second one is labelled ((14 + 7) / 8 = 2), so 8 labels.
  a = log_axis(0.01, 1e12);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0.01", "1", "100", "10k", "1M", "100M", "1e10",
                                                "1e12"}));
}

TEST(PlotSvg, PinnedLayoutOfASmallFigure) {
  Figure f;
  f.title = "t";
  f.x_label = "x (s)";
  f.y_label = "y (ms)";
  f.width = 400;
  f.height = 300;
  f.series.push_back(make("", {0, 10}, {0, 100}));
  const std::string svg = to_svg(f);
  // Plot area: top 40 (title), bottom margin 50 (axis title): 300 - 90 = 210 px high, so
  // int(210 / 55) = 3 y ticks wanted: step 33.3 -> 50, ticks 0, 50, 100. The widest, "100",
  // is 3 × 11 × 0.62 = 20.46 px; left = 14 + 22 (y title) + 20.46 + 8 = 64.46. No legend:
  // right margin 24, plot width 400 - 64.46 - 24 = 311.54, right edge 376.0.
  EXPECT_NE(svg.find("d=\"M64.5 250.0L376.0 40.0\""), std::string::npos) << svg;
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"300\"", 0), 0u);
  EXPECT_TRUE(well_formed(svg));
  for (const char* label : {">0<", ">50<", ">100<", ">5<", ">10<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
}

TEST(PlotSvg, YFromZero) {
  Figure f;
  f.y_from_zero = true;
  f.series.push_back(make("", {0, 1, 2}, {0, 0, 0}));
  // All zero: the axis shows 0 to 1, not the -1 to 1 a zero-width range widens to.
  std::string svg = to_svg(f);
  EXPECT_EQ(svg.find(">-1<"), std::string::npos);
  EXPECT_EQ(svg.find(">-0.5<"), std::string::npos);
  EXPECT_NE(svg.find(">1.0<"), std::string::npos) << svg;
  f.series[0].y = {40, 50, 60};  // 40..60 would not start at 0 without the flag
  svg = to_svg(f);
  EXPECT_NE(svg.find(">0<"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
}

TEST(PlotSvg, TextIsEscaped) {
  Figure f;
  f.title = "P99 <TTFT> & \"TPOT\" 'ms'";
  f.x_label = "a<b";
  f.series.push_back(make("x & y", {1, 2}, {1, 2}, Mark::kPoints));
  f.series.back().point_labels = {"<1>", "2&"};
  f.annotations.push_back({1, 1, "knee <here>"});
  const std::string svg = to_svg(f);
  EXPECT_NE(svg.find("P99 &lt;TTFT&gt; &amp; &quot;TPOT&quot; &#39;ms&#39;"), std::string::npos);
  EXPECT_NE(svg.find("x &amp; y"), std::string::npos);
  EXPECT_NE(svg.find("&lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("knee &lt;here&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<TTFT>"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(xml_escape(std::string("a\x01" "b\tc")), "ab\tc");  // control characters dropped
}

TEST(PlotSvg, SameFigureSameBytes) {
  Figure f;
  f.title = "CDF";
  for (int s = 0; s < 3; ++s) {
    Series series = make("replica " + std::to_string(s), {}, {}, Mark::kStep);
    for (int i = 0; i < 200; ++i) {
      series.x.push_back(std::sqrt(i + s * 7.0) * 13.7);
      series.y.push_back((i + 1) / 200.0);
    }
    f.series.push_back(series);
  }
  EXPECT_EQ(to_svg(f), to_svg(f));
  EXPECT_TRUE(well_formed(to_svg(f)));
}

TEST(PlotSvg, EmptyFiguresDrawABoxThatSaysNoData) {
  Figure f;
  f.title = "nothing";
  std::string svg = to_svg(f);
  EXPECT_NE(svg.find(">no data<"), std::string::npos);
  EXPECT_EQ(svg.find("<path"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));

  // Only unusable points: NaN, infinities, and non-positive values on a log axis.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  f.log_y = true;
  f.series.push_back(make("s", {nan, 1, 2, inf}, {1, 0, -3, 4}));
  svg = to_svg(f);
  EXPECT_NE(svg.find(">no data<"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
  f.width = 0;  // absurd sizes are clamped, not a crash
  f.height = -5;
  EXPECT_TRUE(well_formed(to_svg(f)));
}

TEST(PlotSvg, UnusablePointsAreSkippedAndBreakLines) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Figure f;
  f.series.push_back(make("a", {1, 2, 3, 4, 5}, {1, 2, nan, 4, 5}, Mark::kLine));
  std::string svg = to_svg(f);
  EXPECT_EQ(count(svg, "<path"), 2u);  // 1-2 and 4-5
  EXPECT_EQ(svg.find("nan"), std::string::npos);

  // Log y: 0 and -1 are left out; the three positive points are drawn, on decades 1..1000.
  f = Figure{};
  f.log_y = true;
  f.series.push_back(make("", {1, 2, 3, 4, 5}, {0, 3, -1, 30, 300}, Mark::kPoints));
  svg = to_svg(f);
  EXPECT_EQ(count(svg, "<circle"), 3u);
  for (const char* label : {">1<", ">10<", ">100<", ">1k<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_TRUE(well_formed(svg));
}

TEST(PlotSvg, OverlappingPointLabelsAreLeftOut) {
  // Three points: two at the same spot near the left edge, one far away. The later series
  // places first, so "front-label" takes the right side; "back-label" finds the right side
  // taken, the left outside the plot and the space above overlapping "front-label", so it is
  // left out. The far point keeps its label.
  Figure f;
  Series back;
  back.x = {10, 90};
  back.y = {10, 90};
  back.mark = Mark::kPoints;
  back.point_labels = {"back-label", "far-label"};
  Series front;
  front.x = {10};
  front.y = {10};
  front.mark = Mark::kPoints;
  front.point_labels = {"front-label"};
  f.series = {back, front};
  const std::string svg = to_svg(f);
  EXPECT_EQ(count(svg, "front-label"), 1U);
  EXPECT_EQ(count(svg, "back-label"), 0U);
  EXPECT_EQ(count(svg, "far-label"), 1U);
}

TEST(PlotSvg, LegendOpacityAndAnnotations) {
  Figure f;
  f.series.push_back(make("frontier", {1, 2, 3}, {3, 2, 1}, Mark::kLinePoints));
  f.series.push_back(make("", {1.5, 2.5}, {3, 3}, Mark::kPoints, 0.3));
  f.series.push_back(make("third", {1, 3}, {1, 3}));
  f.series.back().color = 3;
  f.annotations.push_back({2, 2, "knee: 12 req/s"});
  const std::string svg = to_svg(f);
  EXPECT_NE(svg.find(">frontier<"), std::string::npos);
  EXPECT_NE(svg.find(">third<"), std::string::npos);
  EXPECT_NE(svg.find("opacity=\"0.300\""), std::string::npos);
  EXPECT_NE(svg.find(palette_color(3)), std::string::npos);  // explicit colour index
  EXPECT_NE(svg.find(">knee: 12 req/s<"), std::string::npos);
  EXPECT_NE(svg.find("r=\"8\""), std::string::npos);  // the ring
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(palette_color(0), palette_color(8));  // the palette cycles
  EXPECT_EQ(palette_color(-1), palette_color(7));
}

TEST(PlotSvg, OpenRingsMarkHollowPointsAndTheLegendNamesThem) {
  Figure f;
  f.series.push_back(make("rate sweep", {1, 2, 3}, {1, 2, 30}, Mark::kLinePoints));
  f.series[0].hollow = {false, false, true};
  f.series.push_back(ring_legend("overloaded (open rings)"));
  const std::string svg = to_svg(f);
  // Two filled dots (r 3.2) and one ring (r 3.6, white fill, the series' colour as stroke)
  // in the plot, and one more ring in the legend.
  const std::string ring_group = "<g fill=\"#ffffff\" stroke=\"" + palette_color(0) + "\"";
  ASSERT_EQ(count(svg, ring_group), 1U) << svg;
  const auto group = svg.find(ring_group);
  EXPECT_EQ(count(svg.substr(group, svg.find("</g>", group) - group), "<circle"), 1U);
  EXPECT_EQ(count(svg, "r=\"3.6\""), 2U);  // the ring and its legend marker
  EXPECT_EQ(count(svg, "r=\"3.2\""), 3U);  // two dots and the line series' legend dot
  EXPECT_NE(svg.find(">overloaded (open rings)<"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
}

TEST(PlotGeometry, SegmentsAgainstBoxes) {
  // The box [0, 10] x [0, 10].
  EXPECT_TRUE(segment_crosses_box(-5, 5, 15, 5, 0, 0, 10, 10));   // straight through
  EXPECT_TRUE(segment_crosses_box(2, 2, 3, 3, 0, 0, 10, 10));     // wholly inside
  EXPECT_TRUE(segment_crosses_box(-5, -5, 5, 5, 0, 0, 10, 10));   // ends inside
  EXPECT_FALSE(segment_crosses_box(-5, 0, 0, -5, 0, 0, 10, 10));  // passes the corner outside
  EXPECT_FALSE(segment_crosses_box(11, 0, 11, 10, 0, 0, 10, 10)); // parallel, beside it
  EXPECT_FALSE(segment_crosses_box(-5, 20, 20, 12, 0, 0, 10, 10));
}

// The numbers of attribute `name` in `tag`'s text, e.g. x="12.5".
double attr(const std::string& tag, const std::string& name) {
  const auto at = tag.find(" " + name + "=\"");
  return at == std::string::npos ? NAN : std::stod(tag.substr(at + name.size() + 3));
}

TEST(PlotSvg, AnnotationTextCrossesNoLine) {
  // Two lines through the annotated point (2, 2): one rising to the upper right, where a label
  // would go first, one falling to the lower right. Its text must find a spot clear of both.
  Figure f;
  f.width = 500;
  f.height = 400;
  f.series.push_back(make("up", {0, 2, 4}, {0, 2, 4.2}, Mark::kLinePoints));
  f.series.push_back(make("down", {0, 2, 4}, {1.5, 2, 0.2}, Mark::kLinePoints));
  f.annotations.push_back({2, 2, "knee: rate 16"});
  const std::string svg = to_svg(f);
  // The label: a bold <text> with its anchor; its box as the layout reckons it (12 px text,
  // from 12 px above the baseline to 3 px below).
  const auto t = svg.find("font-weight=\"bold\" fill=\"#222222\" stroke=\"#ffffff\"");
  ASSERT_NE(t, std::string::npos) << svg;
  const auto open = svg.rfind("<text", t);
  const std::string tag = svg.substr(open, svg.find('>', t) - open);
  const double tx = attr(tag, "x");
  const double ty = attr(tag, "y");
  const double w = text_width("knee: rate 16", 12);
  const std::string anchor = tag.substr(tag.find("text-anchor=\"") + 13, 3);
  const double x0 = anchor == "sta" ? tx : anchor == "end" ? tx - w : tx - w / 2;
  // Every straight piece of every drawn line ("M x y L x y L x y").
  std::size_t segments = 0;
  for (auto at = svg.find("<path d=\"M"); at != std::string::npos; at = svg.find("<path d=\"M", at + 1)) {
    std::istringstream d(svg.substr(at + 10, svg.find('"', at + 10) - at - 10));
    double px = 0, py = 0;
    char c = 0;
    d >> px >> py;
    while (d >> c && c == 'L') {
      double qx = 0, qy = 0;
      d >> qx >> qy;
      EXPECT_FALSE(segment_crosses_box(px, py, qx, qy, x0, ty - 12, x0 + w, ty + 3))
          << "the label at " << tx << "," << ty << " crosses " << px << "," << py << " - " << qx << "," << qy;
      ++segments;
      px = qx;
      py = qy;
    }
  }
  EXPECT_EQ(segments, 4U);  // two lines of two pieces each
}

}  // namespace
}  // namespace servesim::plot
