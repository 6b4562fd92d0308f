// A CSV file with a header, read whole; cells are looked up by column name. Errors name the
// file, the row and the column.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace servesim::fit {

class CsvTable {
 public:
  static CsvTable read(const std::string& path);

  std::size_t rows() const { return cells_.size(); }
  const std::string& text(std::size_t row, const std::string& column) const;
  double number(std::size_t row, const std::string& column) const;
  bool has_column(const std::string& column) const { return index_.count(column) > 0; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::vector<std::string>> cells_;
};

}  // namespace servesim::fit
