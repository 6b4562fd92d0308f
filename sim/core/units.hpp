// Physical quantities as distinct types, so that adding bytes to seconds does not compile.
// Cost-model arithmetic is in double; simulated time is integer nanoseconds (SimTime).
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace servesim {

template <class Tag>
struct Quantity {
  double value = 0.0;

  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : value(v) {}

  constexpr Quantity operator+(Quantity o) const { return Quantity(value + o.value); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(value - o.value); }
  constexpr Quantity& operator+=(Quantity o) {
    value += o.value;
    return *this;
  }
  constexpr Quantity operator*(double s) const { return Quantity(value * s); }
  constexpr Quantity operator/(double s) const { return Quantity(value / s); }
  constexpr double operator/(Quantity o) const { return value / o.value; }
  constexpr auto operator<=>(const Quantity&) const = default;
};
template <class Tag>
constexpr Quantity<Tag> operator*(double s, Quantity<Tag> q) {
  return Quantity<Tag>(s * q.value);
}

using Seconds = Quantity<struct SecondsTag>;
using Bytes = Quantity<struct BytesTag>;
using Flops = Quantity<struct FlopsTag>;
using BytesPerSecond = Quantity<struct BytesPerSecondTag>;
using FlopsPerSecond = Quantity<struct FlopsPerSecondTag>;

constexpr Seconds operator/(Bytes b, BytesPerSecond r) { return Seconds(b.value / r.value); }
constexpr Seconds operator/(Flops f, FlopsPerSecond r) { return Seconds(f.value / r.value); }
constexpr BytesPerSecond operator/(Bytes b, Seconds s) { return BytesPerSecond(b.value / s.value); }
constexpr FlopsPerSecond operator/(Flops f, Seconds s) { return FlopsPerSecond(f.value / s.value); }

constexpr Seconds milliseconds(double ms) { return Seconds(ms * 1e-3); }
constexpr Seconds microseconds(double us) { return Seconds(us * 1e-6); }
constexpr double to_ms(Seconds s) { return s.value * 1e3; }
constexpr double to_us(Seconds s) { return s.value * 1e6; }

constexpr Bytes gib(double x) { return Bytes(x * 1073741824.0); }

// Simulated time: integer nanoseconds since the start of the run. Integer time makes event
// order exact and output identical across machines.
struct SimTime {
  std::int64_t ns = 0;

  // Beyond about +-292 years (int64 nanoseconds), or not a number: throws Error naming the
  // horizon. Inputs are bounded far inside it, but long enough steps, many times over, are not.
  static SimTime from_seconds(Seconds s) {
    const double ns = s.value * 1e9;
    if (!(ns > -9.2e18 && ns < 9.2e18)) past_horizon(s.value);
    return SimTime{static_cast<std::int64_t>(std::llround(ns))};
  }
  static constexpr SimTime never() { return SimTime{std::numeric_limits<std::int64_t>::max()}; }
  constexpr Seconds seconds() const { return Seconds(static_cast<double>(ns) * 1e-9); }
  constexpr double ms() const { return static_cast<double>(ns) * 1e-6; }
  constexpr SimTime operator+(SimTime o) const {
    std::int64_t r = 0;
    if (__builtin_add_overflow(ns, o.ns, &r)) past_horizon(seconds().value + o.seconds().value);
    return SimTime{r};
  }
  constexpr SimTime operator-(SimTime o) const {
    std::int64_t r = 0;
    if (__builtin_sub_overflow(ns, o.ns, &r)) past_horizon(seconds().value - o.seconds().value);
    return SimTime{r};
  }
  // `n` times this span, checked like + and -.
  constexpr SimTime times(std::int64_t n) const {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(ns, n, &r)) past_horizon(seconds().value * static_cast<double>(n));
    return SimTime{r};
  }
  // Throws Error: `seconds` is past the horizon simulated time can hold.
  [[noreturn]] static void past_horizon(double seconds);
  constexpr auto operator<=>(const SimTime&) const = default;
};

}  // namespace servesim

template <class Tag>
struct fmt::formatter<servesim::Quantity<Tag>> : fmt::formatter<double> {
  auto format(servesim::Quantity<Tag> q, format_context& ctx) const {
    return fmt::formatter<double>::format(q.value, ctx);
  }
};
