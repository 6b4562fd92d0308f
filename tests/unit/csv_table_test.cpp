// The CSV reader: quoted cells (commas, doubled quotes, newlines inside), an empty last cell,
// and errors that name the file and line.
#include <gtest/gtest.h>

#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

TEST(CsvTable, QuotedCellsAndEmptyLastCell) {
  const std::string path = testing::write_temp(
      "quoted.csv",
      "a,b,c\n"
      "1,\"x, y\",\n"                  // a comma inside quotes; an empty last cell
      "2,\"say \"\"hi\"\"\",z\n"       // doubled quotes stand for one
      "3,\"two\nlines\",w\n");         // a newline inside quotes continues the record
  const CsvTable t = CsvTable::read(path);
  ASSERT_EQ(t.rows(), 3U);
  EXPECT_EQ(t.text(0, "b"), "x, y");
  EXPECT_EQ(t.text(0, "c"), "");
  EXPECT_EQ(t.text(1, "b"), "say \"hi\"");
  EXPECT_EQ(t.text(2, "b"), "two\nlines");
  EXPECT_EQ(t.line(2), 4U);  // the record starts on the file's 4th line
  // What csv_quote writes reads back as it was.
  EXPECT_EQ(csv_quote("a,\"b\"\nc"), "\"a,\"\"b\"\"\nc\"");
  EXPECT_EQ(csv_quote("plain"), "plain");
}

TEST(CsvTable, AnUnclosedQuoteIsAnError) {
  const std::string path = testing::write_temp("unclosed.csv", "a,b\n1,\"open\n2,3\n");
  try {
    CsvTable::read(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unclosed.csv:2: a quoted cell is never closed"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace servesim
