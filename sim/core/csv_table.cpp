#include "sim/core/csv_table.hpp"
#include "sim/core/input_file.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

// Cells separated by commas; a cell in double quotes may hold commas, and "" stands for one
// quote inside it. Spaces around unquoted cells are dropped; an empty last cell counts.
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  bool was_quoted = false;
  auto push = [&] {
    if (!was_quoted) {
      while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    }
    out.push_back(cell);
    cell.clear();
    was_quoted = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"' && cell.find_first_not_of(' ') == std::string::npos) {
      cell.clear();
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      push();
    } else if (!(was_quoted && (c == ' ' || c == '\r'))) {
      cell += c;
    }
  }
  push();
  return out;
}

}  // namespace

namespace {

// Reads one record: a line, joined with the next ones while a quoted cell is open (a quoted
// cell may hold a newline). `line` counts the file's lines. False at the end of the file.
bool read_record(std::istream& in, const std::string& path, std::size_t& line, std::string& out) {
  if (!std::getline(in, out)) return false;
  ++line;
  const std::size_t first = line;
  auto quotes = [](const std::string& s) { return std::count(s.begin(), s.end(), '"'); };
  auto open = quotes(out) % 2 == 1;
  std::string more;
  while (open) {
    if (!std::getline(in, more)) {
      throw Error(fmt::format("{}:{}: a quoted cell is never closed (a \" without its pair)",
                              path, first));
    }
    ++line;
    out += "\n" + more;
    open = (quotes(out) % 2) == 1;
  }
  return true;
}

}  // namespace

CsvTable CsvTable::read(const std::string& path) {
  check_input_file(path, "CSV file");
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot open {}", path));
  CsvTable t;
  t.path_ = path;
  std::string line;
  std::size_t n = 0;
  if (!read_record(in, path, n, line)) {
    throw Error(fmt::format("{} is empty (expected a header row)", path));
  }
  t.header_ = split(line);
  const auto& header = t.header_;
  for (std::size_t i = 0; i < header.size(); ++i) t.index_[header[i]] = i;
  for (std::size_t first = n + 1; read_record(in, path, n, line); first = n + 1) {
    if (line.empty() || line == "\r") continue;
    auto cells = split(line);
    if (cells.size() < header.size()) {
      throw Error(fmt::format("{}:{} (row {}): {} cells, the header has {}", path, first,
                              t.cells_.size() + 1, cells.size(), header.size()));
    }
    t.cells_.push_back(std::move(cells));
    t.lines_.push_back(first);
  }
  return t;
}

std::string csv_quote(const std::string& cell) {
  if (cell.find_first_of(",\"\n") == std::string::npos) return cell;
  std::string q = "\"";
  for (char c : cell) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::string exact_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : ""; }

const std::string& CsvTable::text(std::size_t row, const std::string& column) const {
  auto it = index_.find(column);
  if (it == index_.end()) throw Error(fmt::format("{}: no column \"{}\"", path_, column));
  return cells_[row][it->second];
}

double CsvTable::number(std::size_t row, const std::string& column) const {
  const std::string& s = text(row, column);
  double v = 0.0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) {
    throw Error(fmt::format("{}:{} (row {}): column {} is \"{}\", not a number", path_,
                            lines_[row], row + 1, column, s));
  }
  return v;
}

std::int64_t CsvTable::integer(std::size_t row, const std::string& column, std::int64_t lo,
                              std::int64_t hi) const {
  const std::string& s = text(row, column);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) {
    throw Error(fmt::format("{}:{} (row {}): column {} is \"{}\", not a whole number from {} to {}",
                            path_, lines_[row], row + 1, column, s, lo, hi));
  }
  return v;
}

}  // namespace servesim
