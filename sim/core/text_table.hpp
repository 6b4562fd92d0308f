// A plain-text table for terminals: each column as wide as its widest cell, nothing cut.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace servesim {

struct TextTable {
  struct Column {
    std::string header;
    bool right = false;  // numbers align right, text left
  };
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;  // each as many cells as columns

  void add(std::vector<std::string> row) { rows.push_back(std::move(row)); }
  // Columns two spaces apart, each line starting with `indent` spaces; no trailing blanks.
  void print(std::ostream& out, int indent = 0) const;
};

}  // namespace servesim
