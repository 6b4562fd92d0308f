#include "sim/core/text_table.hpp"

#include <algorithm>

#include <stdexcept>

namespace servesim {
namespace {

// Characters as a terminal shows them: UTF-8 continuation bytes take no column.
std::size_t shown_width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

void TextTable::print(std::ostream& out, int indent) const {
  std::vector<std::size_t> width(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) width[c] = shown_width(columns[c].header);
  for (const auto& r : rows) {
    if (r.size() != columns.size()) {
      throw std::logic_error("a text table row has " + std::to_string(r.size()) + " cells for " +
                          std::to_string(columns.size()) + " columns");
    }
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], shown_width(r[c]));
  }
  auto line = [&](auto cell_of) {
    std::string text(static_cast<std::size_t>(indent), ' ');
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string& cell = cell_of(c);
      const std::string pad(width[c] - shown_width(cell), ' ');
      if (c > 0) text += "  ";
      text += columns[c].right ? pad + cell : cell + pad;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  line([&](std::size_t c) -> const std::string& { return columns[c].header; });
  for (const auto& r : rows) line([&](std::size_t c) -> const std::string& { return r[c]; });
}

}  // namespace servesim
