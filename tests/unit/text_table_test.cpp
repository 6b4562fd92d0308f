// The plain-text table: columns as wide as their widest cell, nothing cut, numbers right.
#include "sim/core/text_table.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>

namespace servesim {
namespace {

TEST(TextTable, ColumnsFitTheirWidestCellAndNothingIsCut) {
  TextTable t;
  t.columns = {{"#", true}, {"configuration"}, {"req/s", true}};
  const std::string long_label = "scheduler=chunked, chunk_size=512, prompt_tokens={ distribution = \"fixed\", value = 4000 }";
  t.add({"1", long_label, "6.19"});
  t.add({"12", "µs-tick", "11"});  // two bytes for µ, one column on a terminal
  std::ostringstream out;
  t.print(out, 2);
  // Column widths: "#" 2 (from "12"), configuration 88 (the long label), req/s 5 (header).
  // Cells are two spaces apart, each line indented by 2, trailing blanks trimmed.
  const std::string pad(long_label.size() - std::string("configuration").size(), ' ');
  const std::string expected = "   #  configuration" + pad + "  req/s\n" +
                               "   1  " + long_label + "   6.19\n" +
                               "  12  µs-tick" + std::string(long_label.size() - 7, ' ') + "     11\n";
  EXPECT_EQ(out.str(), expected);
}

TEST(TextTable, ARowOfTheWrongWidthIsAnInternalError) {
  TextTable t;
  t.columns = {{"a"}, {"b"}};
  t.add({"only one"});
  std::ostringstream out;
  EXPECT_THROW(t.print(out), std::logic_error);
}

}  // namespace
}  // namespace servesim
