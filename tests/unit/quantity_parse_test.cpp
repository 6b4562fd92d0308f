#include <gtest/gtest.h>

#include "sim/core/error.hpp"
#include "sim/core/quantity_parse.hpp"

namespace servesim {
namespace {

TEST(QuantityParse, DecimalAndBinaryPrefixes) {
  EXPECT_DOUBLE_EQ(parse_quantity("80 GB", Dimension::kBytes, "t"), 80e9);
  // 81559 MiB = 81559 * 2^20 bytes.
  EXPECT_DOUBLE_EQ(parse_quantity("81559 MiB", Dimension::kBytes, "t"), 81559.0 * 1048576.0);
  EXPECT_DOUBLE_EQ(parse_quantity("3.35 TB/s", Dimension::kBandwidth, "t"), 3.35e12);
  // 400 Gb/s is bits: 400e9 / 8 = 50e9 bytes/s.
  EXPECT_DOUBLE_EQ(parse_quantity("400 Gb/s", Dimension::kBandwidth, "t"), 50e9);
  EXPECT_DOUBLE_EQ(parse_quantity("989 TFLOP/s", Dimension::kFlopRate, "t"), 989e12);
  EXPECT_DOUBLE_EQ(parse_quantity("5 us", Dimension::kTime, "t"), 5e-6);
  EXPECT_DOUBLE_EQ(parse_quantity(" 1.5ms ", Dimension::kTime, "t"), 1.5e-3);
}

TEST(QuantityParse, WrongUnitNamesTheValidOnes) {
  try {
    parse_quantity("3 GB", Dimension::kTime, "gpu.toml:4:1");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gpu.toml:4:1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("valid units are: ns, us, ms, s"), std::string::npos) << msg;
  }
}

TEST(QuantityParse, RejectsMissingNumberAndNegatives) {
  EXPECT_THROW(parse_quantity("fast", Dimension::kBandwidth, "t"), Error);
  EXPECT_THROW(parse_quantity("-3 ms", Dimension::kTime, "t"), Error);
  EXPECT_THROW(parse_quantity("3", Dimension::kTime, "t"), Error);  // unit required
}

}  // namespace
}  // namespace servesim
