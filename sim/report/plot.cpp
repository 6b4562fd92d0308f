#include "sim/report/plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace servesim::plot {
namespace {

constexpr const char* kFont = "Helvetica, Arial, sans-serif";
constexpr double kTitleSize = 15;
constexpr double kAxisTitleSize = 13;
constexpr double kTickSize = 11;
constexpr double kLegendSize = 12;
constexpr double kPointLabelSize = 10;
constexpr double kLegendRow = 18;
constexpr const char* kInk = "#222222";
constexpr const char* kAxisInk = "#555555";
constexpr const char* kGrid = "#e6e6e6";
constexpr const char* kMinorGrid = "#f3f3f3";

// Width of `text` at `size` px in a proportional sans-serif face: an estimate (no font
// metrics are available), slightly generous so that labels do not collide.
double estimate_width(const std::string& text, double size) {
  std::size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;  // count UTF-8 code points
  return static_cast<double>(chars) * size * 0.62;
}

// Pixel coordinates with one decimal; never "-0.0".
std::string px(double v) {
  std::string s = fmt::format("{:.1f}", v);
  if (s == "-0.0") s = "0.0";
  return s;
}

// `v` in fixed notation with `decimals` decimals, scaled by a k or M suffix when large.
std::string compact(double v, int decimals, double scale, const char* suffix) {
  if (v == 0.0) return "0";
  std::string s = fmt::format("{:.{}f}", v / scale, std::max(0, decimals));
  if (s.rfind("-0", 0) == 0 && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s + suffix;
}

// Label of a tick on a log axis: 0.01, 0.5, 1, 20, 500, 1k, 20k, 1M; 1e-5 below 0.001 and
// 1e9 from a billion up.
std::string log_label(double v) {
  const int exponent = static_cast<int>(std::floor(std::log10(v) + 1e-9));
  if (exponent < -3 || exponent >= 9) {
    return fmt::format("{}e{}", std::lround(v / std::pow(10.0, exponent)), exponent);
  }
  if (exponent >= 6) return compact(v, 0, 1e6, "M");
  if (exponent >= 3) return compact(v, 0, 1e3, "k");
  return compact(v, std::max(0, -exponent), 1.0, "");
}

struct Point {
  double x, y;
};

struct Frame {
  double left, top, width, height;  // the plot area, in pixels
  Axis x, y;
  bool log_x, log_y;

  double px_x(double v) const { return left + width * fraction(v, x, log_x); }
  double px_y(double v) const { return top + height * (1.0 - fraction(v, y, log_y)); }

  static double fraction(double v, const Axis& a, bool log) {
    if (log) return (std::log10(v) - std::log10(a.lo)) / (std::log10(a.hi) - std::log10(a.lo));
    return (v - a.lo) / (a.hi - a.lo);
  }
};

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0.0); }

// The points of a series that can be drawn, in order; a point that cannot be drawn ends a
// line segment, so each inner vector is one unbroken run.
std::vector<std::vector<std::size_t>> runs(const Series& s, bool log_x, bool log_y) {
  std::vector<std::vector<std::size_t>> out(1);
  const std::size_t n = std::min(s.x.size(), s.y.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (usable(s.x[i], log_x) && usable(s.y[i], log_y)) {
      out.back().push_back(i);
    } else if (!out.back().empty()) {
      out.emplace_back();
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

Axis make_axis(const Range& r, bool log, int target) {
  return log ? log_axis(r.lo, r.hi) : linear_axis(r.lo, r.hi, target);
}

double widest(const std::vector<std::string>& labels, double size) {
  double w = 0;
  for (const auto& l : labels) w = std::max(w, estimate_width(l, size));
  return w;
}

void text(std::string& out, double x, double y, const std::string& s, double size,
          const char* anchor, const std::string& extra = "") {
  out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{}\"{}>{}</text>\n",
                     px(x), px(y), size, anchor, extra, xml_escape(s));
}

// Legend entries cut to the width available, with an ellipsis.
std::string fit_label(const std::string& label, double max_width) {
  if (estimate_width(label, kLegendSize) <= max_width) return label;
  std::string cut;
  for (std::size_t i = 0; i < label.size(); ++i) {
    if ((static_cast<unsigned char>(label[i]) & 0xC0) != 0x80 &&
        estimate_width(cut + "..", kLegendSize) > max_width) {
      break;
    }
    cut += label[i];
  }
  while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80) cut.pop_back();
  if (!cut.empty()) cut.pop_back();
  return cut + "\u2026";
}

int series_color(const Series& s, std::size_t position) {
  return s.color >= 0 ? s.color : static_cast<int>(position);
}

void draw_grid(std::string& out, const Frame& f) {
  // Light lines at 2..9 × 10^k on log axes of few decades, where they help reading values.
  auto minor = [&](const Axis& a, bool is_x) {
    const int d0 = static_cast<int>(std::lround(std::log10(a.lo)));
    const int d1 = static_cast<int>(std::lround(std::log10(a.hi)));
    if (d1 - d0 > 6) return;
    out += fmt::format("<g stroke=\"{}\" stroke-width=\"1\">\n", kMinorGrid);
    for (int d = d0; d < d1; ++d) {
      for (int m = 2; m <= 9; ++m) {
        const double v = m * std::pow(10.0, d);
        if (std::find(a.ticks.begin(), a.ticks.end(), v) != a.ticks.end()) continue;
        if (is_x) {
          const double x = f.px_x(v);
          out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", px(x),
                             px(f.top), px(f.top + f.height));
        } else {
          const double y = f.px_y(v);
          out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", px(y),
                             px(f.left), px(f.left + f.width));
        }
      }
    }
    out += "</g>\n";
  };
  if (f.log_x) minor(f.x, true);
  if (f.log_y) minor(f.y, false);
  out += fmt::format("<g stroke=\"{}\" stroke-width=\"1\">\n", kGrid);
  for (double t : f.x.ticks) {
    const double x = f.px_x(t);
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", px(x),
                       px(f.top), px(f.top + f.height));
  }
  for (double t : f.y.ticks) {
    const double y = f.px_y(t);
    out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", px(y), px(f.left),
                       px(f.left + f.width));
  }
  out += "</g>\n";
}

void draw_tick_labels(std::string& out, const Frame& f) {
  out += fmt::format("<g fill=\"{}\">\n", kAxisInk);
  const double bottom = f.top + f.height;
  for (std::size_t i = 0; i < f.x.ticks.size(); ++i) {
    text(out, f.px_x(f.x.ticks[i]), bottom + 16, f.x.labels[i], kTickSize, "middle");
  }
  for (std::size_t i = 0; i < f.y.ticks.size(); ++i) {
    text(out, f.left - 7, f.px_y(f.y.ticks[i]) + 4, f.y.labels[i], kTickSize, "end");
  }
  out += "</g>\n";
  out += fmt::format("<g stroke=\"{}\" stroke-width=\"1\">\n", kAxisInk);
  for (double t : f.x.ticks) {
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", px(f.px_x(t)),
                       px(bottom), px(bottom + 4));
  }
  for (double t : f.y.ticks) {
    out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", px(f.px_y(t)),
                       px(f.left - 4), px(f.left));
  }
  out += "</g>\n";
}

void draw_series(std::string& out, const Frame& f, const Series& s, std::size_t position) {
  const std::string& color = palette_color(series_color(s, position));
  const auto parts = runs(s, f.log_x, f.log_y);
  if (parts.empty()) return;
  const double opacity = std::clamp(std::isfinite(s.opacity) ? s.opacity : 1.0, 0.0, 1.0);
  out += fmt::format("<g opacity=\"{:.3f}\">\n", opacity);
  const bool line = s.mark == Mark::kLine || s.mark == Mark::kLinePoints || s.mark == Mark::kStep;
  const bool points = s.mark == Mark::kPoints || s.mark == Mark::kLinePoints;
  if (line) {
    for (const auto& run : parts) {
      if (run.size() < 2) continue;
      std::string d;
      for (std::size_t k = 0; k < run.size(); ++k) {
        const double x = f.px_x(s.x[run[k]]);
        const double y = f.px_y(s.y[run[k]]);
        if (k == 0) {
          d += fmt::format("M{} {}", px(x), px(y));
        } else if (s.mark == Mark::kStep) {
          d += fmt::format("H{}V{}", px(x), px(y));  // step after: hold the value until the next x
        } else {
          d += fmt::format("L{} {}", px(x), px(y));
        }
      }
      out += fmt::format(
          "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
          "stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n",
          d, color);
    }
  }
  // A line series with a lone point would be invisible: draw that point as a dot.
  std::vector<std::size_t> dots;
  for (const auto& run : parts) {
    if (points || run.size() == 1) dots.insert(dots.end(), run.begin(), run.end());
  }
  auto is_hollow = [&](std::size_t i) { return i < s.hollow.size() && s.hollow[i]; };
  std::vector<std::size_t> filled, rings;
  for (std::size_t i : dots) (is_hollow(i) ? rings : filled).push_back(i);
  if (!filled.empty()) {
    out += fmt::format("<g fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.6\">\n", color);
    for (std::size_t i : filled) {
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.2\"/>\n", px(f.px_x(s.x[i])),
                         px(f.px_y(s.y[i])));
    }
    out += "</g>\n";
  }
  if (!rings.empty()) {
    out += fmt::format("<g fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.6\">\n", color);
    for (std::size_t i : rings) {
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.6\"/>\n", px(f.px_x(s.x[i])),
                         px(f.px_y(s.y[i])));
    }
    out += "</g>\n";
  }
  out += "</g>\n";
}

// A label's box in pixels.
struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// Point labels of one series, each to the right of its point, else to the left, else above;
// a label that would overlap one already placed (or leave the plot) is left out, so that
// dense plots stay readable.
void draw_point_labels(std::string& out, const Frame& f, const Series& s, std::vector<Box>& placed) {
  if (s.point_labels.empty()) return;
  const auto parts = runs(s, f.log_x, f.log_y);
  const double opacity = std::clamp(std::isfinite(s.opacity) ? s.opacity : 1.0, 0.0, 1.0);
  out += fmt::format("<g fill=\"{}\" opacity=\"{:.3f}\">\n", kInk, opacity);
  for (const auto& run : parts) {
    for (std::size_t i : run) {
      if (i >= s.point_labels.size() || s.point_labels[i].empty()) continue;
      const double x = f.px_x(s.x[i]);
      const double y = f.px_y(s.y[i]);
      const double w = estimate_width(s.point_labels[i], kPointLabelSize);
      const double h = kPointLabelSize;
      struct Spot {
        double x, y;
        const char* anchor;
        Box box;
      };
      const Spot spots[] = {
          {x + 6, y - 6, "start", {x + 6, y - 6 - h, x + 6 + w, y - 6 + 2}},
          {x - 6, y - 6, "end", {x - 6 - w, y - 6 - h, x - 6, y - 6 + 2}},
          {x, y - 10, "middle", {x - w / 2, y - 10 - h, x + w / 2, y - 10 + 2}},
      };
      for (const Spot& spot : spots) {
        const Box& b = spot.box;
        if (b.x0 < f.left || b.x1 > f.left + f.width || b.y0 < f.top) continue;
        bool clear = true;
        for (const Box& p : placed) clear = clear && !b.overlaps(p);
        if (!clear) continue;
        placed.push_back(b);
        text(out, spot.x, spot.y, s.point_labels[i], kPointLabelSize, spot.anchor);
        break;
      }
    }
  }
  out += "</g>\n";
}

// The drawn line segments of every line series, in pixels.
struct Segment {
  double x1, y1, x2, y2;
};
std::vector<Segment> line_segments(const Frame& f, const std::vector<Series>& series) {
  std::vector<Segment> out;
  for (const Series& s : series) {
    if (s.mark == Mark::kPoints) continue;
    for (const auto& run : runs(s, f.log_x, f.log_y)) {
      for (std::size_t k = 1; k < run.size(); ++k) {
        const double x1 = f.px_x(s.x[run[k - 1]]);
        const double y1 = f.px_y(s.y[run[k - 1]]);
        const double x2 = f.px_x(s.x[run[k]]);
        const double y2 = f.px_y(s.y[run[k]]);
        if (s.mark == Mark::kStep) {  // H then V
          out.push_back({x1, y1, x2, y1});
          out.push_back({x2, y1, x2, y2});
        } else {
          out.push_back({x1, y1, x2, y2});
        }
      }
    }
  }
  return out;
}

// Each annotation's text goes to the first of a ring of spots around its point, nearest
// first, whose box stays inside the plot and crosses no line and no label already placed;
// when none does, to the first spot inside the plot.
void draw_annotations(std::string& out, const Frame& f, const std::vector<Annotation>& notes,
                      const std::vector<Segment>& lines, std::vector<Box>& placed) {
  for (const Annotation& a : notes) {
    if (!usable(a.x, f.log_x) || !usable(a.y, f.log_y)) continue;
    const double x = f.px_x(a.x);
    const double y = f.px_y(a.y);
    out += fmt::format(
        "<circle cx=\"{}\" cy=\"{}\" r=\"8\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
        px(x), px(y), kInk);
    if (a.text.empty()) continue;
    const double w = estimate_width(a.text, kLegendSize);
    const double h = kLegendSize;
    struct Spot {
      double tx, ty;  // the text's anchor point (baseline)
      const char* anchor;
      Box box;
    };
    std::vector<Spot> spots;
    for (double d : {12.0, 28.0, 48.0, 72.0}) {
      spots.push_back({x + d, y - d, "start", {x + d, y - d - h, x + d + w, y - d + 3}});
      spots.push_back({x + d, y + d + h, "start", {x + d, y + d, x + d + w, y + d + h + 3}});
      spots.push_back({x - d, y - d, "end", {x - d - w, y - d - h, x - d, y - d + 3}});
      spots.push_back({x - d, y + d + h, "end", {x - d - w, y + d, x - d, y + d + h + 3}});
      spots.push_back({x, y - d - 4, "middle", {x - w / 2, y - d - 4 - h, x + w / 2, y - d - 1}});
      spots.push_back({x, y + d + h + 4, "middle", {x - w / 2, y + d + 4, x + w / 2, y + d + h + 7}});
    }
    auto inside = [&](const Box& b) {
      return b.x0 >= f.left && b.x1 <= f.left + f.width && b.y0 >= f.top && b.y1 <= f.top + f.height;
    };
    auto clear = [&](const Box& b) {
      for (const Box& p : placed) {
        if (b.overlaps(p)) return false;
      }
      for (const Segment& l : lines) {
        if (segment_crosses_box(l.x1, l.y1, l.x2, l.y2, b.x0, b.y0, b.x1, b.y1)) return false;
      }
      return true;
    };
    const Spot* chosen = nullptr;
    for (const Spot& sp : spots) {
      if (inside(sp.box) && clear(sp.box)) {
        chosen = &sp;
        break;
      }
    }
    for (const Spot& sp : spots) {
      if (chosen == nullptr && inside(sp.box)) chosen = &sp;
    }
    if (chosen == nullptr) chosen = &spots.front();
    placed.push_back(chosen->box);
    text(out, chosen->tx, chosen->ty, a.text, kLegendSize, chosen->anchor,
         fmt::format(" font-weight=\"bold\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"3\" "
                     "paint-order=\"stroke\"",
                     kInk));
  }
}

void draw_legend(std::string& out, const Figure& fig, const Frame& f, double label_width) {
  std::vector<std::size_t> entries;
  for (std::size_t i = 0; i < fig.series.size(); ++i) {
    if (!fig.series[i].label.empty()) entries.push_back(i);
  }
  if (entries.empty()) return;
  const double x = f.left + f.width + 16;
  double y = f.top + 6;
  const auto rows = static_cast<std::size_t>(std::max(1.0, std::floor(f.height / kLegendRow)));
  const std::size_t shown = entries.size() <= rows ? entries.size() : rows - 1;
  out += fmt::format("<g font-size=\"{}\" fill=\"{}\">\n", kLegendSize, kInk);
  for (std::size_t k = 0; k < shown; ++k) {
    const Series& s = fig.series[entries[k]];
    const std::string& color = palette_color(series_color(s, entries[k]));
    const double cy = y + kLegendRow / 2;
    if (s.mark != Mark::kPoints && !s.hollow_legend) {
      out += fmt::format(
          "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>\n",
          px(x), px(cy), px(x + 20), px(cy), color);
    }
    if (s.hollow_legend) {
      out += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"3.6\" fill=\"#ffffff\" stroke=\"{}\" "
          "stroke-width=\"1.6\"/>\n",
          px(x + 10), px(cy), color);
    } else if (s.mark == Mark::kPoints || s.mark == Mark::kLinePoints) {
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.2\" fill=\"{}\"/>\n", px(x + 10),
                         px(cy), color);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", px(x + 26), px(cy + 4),
                       xml_escape(fit_label(s.label, label_width)));
    y += kLegendRow;
  }
  if (shown < entries.size()) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">+{} more</text>\n", px(x + 26),
                       px(y + kLegendRow / 2 + 4), kAxisInk, entries.size() - shown);
  }
  out += "</g>\n";
}

}  // namespace

Axis linear_axis(double lo, double hi, int target) {
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi - lo <= std::max(std::abs(hi), std::abs(lo)) * 1e-12) {
    const double pad = lo == 0.0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  target = std::max(2, target);
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1.0 ? 1.0 : norm <= 2.0 ? 2.0 : norm <= 5.0 ? 5.0 : 10.0) * magnitude;
  // Whole multiples of the step, so that ticks do not accumulate rounding error.
  const auto first = static_cast<long long>(std::floor(lo / step + 1e-9));
  const auto last = static_cast<long long>(std::ceil(hi / step - 1e-9));
  Axis a;
  a.lo = static_cast<double>(first) * step;
  a.hi = static_cast<double>(last) * step;
  double largest = 0;
  for (long long k = first; k <= last; ++k) {
    a.ticks.push_back(static_cast<double>(k) * step);
    largest = std::max(largest, std::abs(a.ticks.back()));
  }
  double scale = 1.0;
  const char* suffix = "";
  if (largest >= 1e9) {
    scale = 1e9;
    suffix = "G";
  } else if (largest >= 1e6) {
    scale = 1e6;
    suffix = "M";
  } else if (largest >= 1e4) {
    scale = 1e3;
    suffix = "k";
  }
  const int decimals = static_cast<int>(std::ceil(-std::log10(step / scale) - 1e-9));
  for (double t : a.ticks) a.labels.push_back(compact(t, decimals, scale, suffix));
  return a;
}

Axis log_axis(double lo, double hi) {
  if (!(lo > 0.0) || !(hi >= lo) || !std::isfinite(hi)) {
    lo = 1;
    hi = 10;
  }
  int d0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int d1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (d1 <= d0) d1 = d0 + 1;
  const int stride = (d1 - d0 + 7) / 8;  // at most about 8 labelled decades
  d0 -= ((d0 % stride) + stride) % stride;
  d1 += ((stride - (d1 - d0) % stride)) % stride;
  Axis a;
  a.lo = std::pow(10.0, d0);
  a.hi = std::pow(10.0, d1);
  const bool fine = d1 - d0 == 1;
  for (int d = d0; d <= d1; d += stride) {
    const double v = std::pow(10.0, d);
    a.ticks.push_back(v);
    if (fine && d < d1) {
      a.ticks.push_back(2 * v);
      a.ticks.push_back(5 * v);
    }
  }
  for (double t : a.ticks) a.labels.push_back(log_label(t));
  return a;
}

const std::string& palette_color(int index) {
  // Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour
  // vision deficiency. Yellow comes last: it is faint on white.
  static const std::array<std::string, 8> colors = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                    "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
  const int n = static_cast<int>(colors.size());
  return colors[static_cast<std::size_t>(((index % n) + n) % n)];
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters other than tab and newlines are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += c;
    }
  }
  return out;
}

double text_width(const std::string& text, double size) { return estimate_width(text, size); }

Series ring_legend(const std::string& label) {
  Series s;
  s.label = label;
  s.mark = Mark::kPoints;
  s.hollow_legend = true;
  s.color = 6;  // the palette's black: the rings themselves take each series' colour
  return s;
}

bool segment_crosses_box(double x1, double y1, double x2, double y2, double bx0, double by0,
                         double bx1, double by1) {
  // Liang-Barsky: clip the segment's parameter range [0, 1] to each side of the box.
  const double dx = x2 - x1;
  const double dy = y2 - y1;
  double t0 = 0.0;
  double t1 = 1.0;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {x1 - bx0, bx1 - x1, y1 - by0, by1 - y1};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0.0) {
      if (q[i] < 0.0) return false;  // parallel to this side and outside it
      continue;
    }
    const double r = q[i] / p[i];
    if (p[i] < 0.0) {
      t0 = std::max(t0, r);
    } else {
      t1 = std::min(t1, r);
    }
    if (t0 > t1) return false;
  }
  return true;
}

std::string to_svg(const Figure& fig) {
  const double width = std::max(fig.width, 160);
  const double height = std::max(fig.height, 120);
  Range rx, ry;
  for (const Series& s : fig.series) {
    for (const auto& run : runs(s, fig.log_x, fig.log_y)) {
      for (std::size_t i : run) {
        rx.add(s.x[i]);
        ry.add(s.y[i]);
      }
    }
  }
  for (const Annotation& a : fig.annotations) {
    if (usable(a.x, fig.log_x) && usable(a.y, fig.log_y)) {
      rx.add(a.x);
      ry.add(a.y);
    }
  }
  const bool empty = rx.empty();
  if (!empty && fig.y_from_zero && !fig.log_y) {
    ry.add(0.0);
    if (ry.hi == 0.0) ry.hi = 1.0;  // all zero: show 0 to 1, not -1 to 1
  }

  // Vertical layout first: the y ticks depend only on the plot's height, and the left
  // margin on the widest y tick label.
  const double top = fig.title.empty() ? 16 : 40;
  const double bottom = fig.x_label.empty() ? 30 : 50;
  Frame f{};
  f.log_x = fig.log_x;
  f.log_y = fig.log_y;
  f.top = top;
  f.height = height - top - bottom;
  if (!empty) f.y = make_axis(ry, fig.log_y, static_cast<int>(f.height / 55));
  const double y_title = fig.y_label.empty() ? 0 : 22;
  f.left = 14 + y_title + (empty ? 0 : widest(f.y.labels, kTickSize)) + 8;

  double legend_labels = 0;
  for (const Series& s : fig.series) legend_labels = std::max(legend_labels, estimate_width(s.label, kLegendSize));
  const double legend_cap = width * 0.3;
  legend_labels = std::min(legend_labels, legend_cap);
  const double right = legend_labels > 0 ? 16 + 26 + legend_labels + 18 : 24;
  f.width = width - f.left - right;

  if (!empty) {
    // Fewer x ticks until their labels have room to breathe.
    for (int target = static_cast<int>(f.width / 80); target >= 2; --target) {
      f.x = make_axis(rx, fig.log_x, target);
      const double spacing =
          f.width / static_cast<double>(std::max<std::size_t>(1, f.x.ticks.size() - 1));
      if (widest(f.x.labels, kTickSize) + 10 <= spacing || fig.log_x) break;
    }
    if (f.x.ticks.empty()) f.x = make_axis(rx, fig.log_x, 2);
  }

  std::string out;
  out += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"{2}\" role=\"img\">\n",
      width, height, kFont);
  out += "<title>" + xml_escape(fig.title) + "</title>\n";
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", width,
                     height);
  if (!fig.title.empty()) {
    text(out, f.left + f.width / 2, 24, fig.title, kTitleSize,
         "middle", fmt::format(" font-weight=\"bold\" fill=\"{}\"", kInk));
  }
  if (!empty) {
    draw_grid(out, f);
    draw_tick_labels(out, f);
  }
  out += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"{}\" "
      "stroke-width=\"1\"/>\n",
      px(f.left), px(f.top), px(f.width), px(f.height), kAxisInk);
  if (!fig.x_label.empty()) {
    text(out, f.left + f.width / 2, f.top + f.height + 40, fig.x_label, kAxisTitleSize, "middle",
         fmt::format(" fill=\"{}\"", kInk));
  }
  if (!fig.y_label.empty()) {
    const double x = 14 + kAxisTitleSize - 2;
    const double y = f.top + f.height / 2;
    text(out, x, y, fig.y_label, kAxisTitleSize, "middle",
         fmt::format(" fill=\"{}\" transform=\"rotate(-90 {} {})\"", kInk, px(x), px(y)));
  }
  if (empty) {
    text(out, f.left + f.width / 2, f.top + f.height / 2, "no data", kAxisTitleSize, "middle",
         fmt::format(" fill=\"{}\"", kAxisInk));
  } else {
    for (std::size_t i = 0; i < fig.series.size(); ++i) draw_series(out, f, fig.series[i], i);
    // Labels after every mark, the last series' first: it is drawn on top, so it is the one
    // a reader looks for (a frontier over the points it dominates, say).
    std::vector<Box> placed;
    for (std::size_t i = fig.series.size(); i-- > 0;) draw_point_labels(out, f, fig.series[i], placed);
    draw_annotations(out, f, fig.annotations, line_segments(f, fig.series), placed);
  }
  draw_legend(out, fig, f, legend_labels);
  out += "</svg>\n";
  return out;
}

}  // namespace servesim::plot
