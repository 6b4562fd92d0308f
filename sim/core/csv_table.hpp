// A CSV file with a header, read whole; cells are looked up by column name. Errors name the
// file, the row and the column.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace servesim {

// A cell as CSV needs it: quoted (inner quotes doubled) when it holds a comma, quote or newline.
std::string csv_quote(const std::string& cell);
// The shortest text that reads back as the same double (exact, deterministic); "" for NaN/inf.
std::string exact_number(double v);

class CsvTable {
 public:
  static CsvTable read(const std::string& path);

  std::size_t rows() const { return cells_.size(); }
  const std::string& text(std::size_t row, const std::string& column) const;
  // The file's line number of data row `row` (the header is line 1; blank lines count).
  std::size_t line(std::size_t row) const { return lines_[row]; }
  const std::vector<std::string>& header() const { return header_; }
  double number(std::size_t row, const std::string& column) const;
  // A whole number in [lo, hi]; anything else is an error naming the file, line and column.
  std::int64_t integer(std::size_t row, const std::string& column, std::int64_t lo, std::int64_t hi) const;
  bool has_column(const std::string& column) const { return index_.count(column) > 0; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::string> header_;
  std::vector<std::size_t> lines_;
  std::vector<std::vector<std::string>> cells_;
};

}  // namespace servesim
