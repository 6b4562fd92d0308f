#include "sim/core/csv_table.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) {
    while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
    while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    out.push_back(cell);
  }
  return out;
}

}  // namespace

CsvTable CsvTable::read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot open {}", path));
  CsvTable t;
  t.path_ = path;
  std::string line;
  if (!std::getline(in, line)) throw Error(fmt::format("{} is empty (expected a header row)", path));
  t.header_ = split(line);
  const auto& header = t.header_;
  for (std::size_t i = 0; i < header.size(); ++i) t.index_[header[i]] = i;
  std::size_t n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line == "\r") continue;
    auto cells = split(line);
    if (cells.size() < header.size()) {
      throw Error(fmt::format("{}:{} (row {}): {} cells, the header has {}", path, n,
                              t.cells_.size() + 1, cells.size(), header.size()));
    }
    t.cells_.push_back(std::move(cells));
    t.lines_.push_back(n);
  }
  return t;
}

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

}  // namespace servesim
