// A small SVG plotting module: line, point and step series on linear or log axes, with a
// legend and highlighted points. Output is deterministic (fixed number formatting, no locale,
// no clock), so the same figure always gives the same bytes.
#pragma once

#include <string>
#include <vector>

namespace servesim::plot {

enum class Mark { kLine, kPoints, kLinePoints, kStep };

struct Series {
  std::string label;                      // legend entry ("" = not in the legend)
  std::vector<double> x, y;
  Mark mark = Mark::kLine;
  double opacity = 1.0;                   // e.g. 0.3 for faded (dominated) points
  // Empty, or one short label per point, drawn beside it; a label that would overlap one
  // already placed is left out (later series place theirs first).
  std::vector<std::string> point_labels;
  int color = -1;                         // palette index; -1: the series' position
  // Per point: drawn as an open ring instead of a dot (an overloaded run, say); empty: none.
  std::vector<bool> hollow;
  bool hollow_legend = false;  // its legend marker is an open ring ("overloaded")
};

// A highlighted point: a ring, and its text placed where it crosses no line of the plot,
// no other label and no edge, when such a place is near.
struct Annotation {
  double x = 0, y = 0;
  std::string text;
};

struct Figure {
  std::string title, x_label, y_label;  // labels carry units, e.g. "TTFT P99 (ms)"
  bool log_x = false, log_y = false;
  bool y_from_zero = false;  // a linear y axis includes 0 (counts, shares, throughput)
  std::vector<Series> series;
  std::vector<Annotation> annotations;
  int width = 720, height = 450;
};

// A legend entry with no points: an open ring named `label`, saying what open rings mean
// (for example "overloaded (open rings)").
Series ring_legend(const std::string& label);

// The width of `text` at `size` px, as the layout estimates it (no font metrics).
double text_width(const std::string& text, double size);
// Whether the segment from (x1, y1) to (x2, y2) touches the box [x0, x1b] x [y0, y1b].
bool segment_crosses_box(double x1, double y1, double x2, double y2, double bx0, double by0,
                         double bx1, double by1);

// A standalone <svg xmlns=...> document. Non-finite points are skipped, and so are
// non-positive values on a log axis. A figure with no points left is drawn as an empty
// axes box with a "no data" note.
std::string to_svg(const Figure& figure);

// The pieces to_svg is made of, public so that they can be tested on their own.

// An axis: its drawn range, tick positions and tick labels.
struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  std::vector<std::string> labels;
};
// Ticks at multiples of 1, 2 or 5 × 10^k, about `target` of them, covering [lo, hi]; the
// range is widened to the outer ticks. A zero-width range is widened around its value.
Axis linear_axis(double lo, double hi, int target);
// Ticks at powers of ten (every n-th decade when there are many) covering [lo, hi] (lo > 0);
// also at 2 and 5 × 10^k when the range spans at most one decade.
Axis log_axis(double lo, double hi);
// The colour-blind-safe palette (Okabe and Ito), cycled: "#0072B2", ...
const std::string& palette_color(int index);
// Text made safe for XML content and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace servesim::plot
