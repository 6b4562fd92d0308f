#include "sim/core/toml_reader.hpp"
#include "sim/core/input_file.hpp"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {

std::string where(const std::string& file, const toml::node* node) {
  if (node == nullptr) return file;
  // Values laid over the file (servesim's --set, or an engine profile) have no place in it.
  if (!node->source().begin) return file + " (a --set or --profile value, not the file)";
  return fmt::format("{}:{}:{}", file, node->source().begin.line, node->source().begin.column);
}

TableReader::TableReader(const toml::table& table, std::string file, std::string section)
    : table_(&table), file_(std::move(file)), section_(std::move(section)) {}

std::string TableReader::key_path(const std::string& key) const {
  return section_.empty() ? key : section_ + "." + key;
}

std::string TableReader::location() const { return where(file_, table_); }

std::string TableReader::location_of(const std::string& key) const {
  const toml::node* n = table_->get(key);
  return where(file_, n ? n : table_);
}

void TableReader::throw_missing(const std::string& key) const {
  throw Error(fmt::format("{}: missing required key \"{}\"", location(), key_path(key)));
}

void TableReader::throw_type(const std::string& key, const char* expected) const {
  const toml::node* n = table_->get(key);
  std::string got = "?";
  if (n) {
    switch (n->type()) {
      case toml::node_type::string: got = "a string"; break;
      case toml::node_type::integer: got = "an integer"; break;
      case toml::node_type::floating_point: got = "a float"; break;
      case toml::node_type::boolean: got = "a boolean"; break;
      case toml::node_type::table: got = "a table"; break;
      case toml::node_type::array: got = "an array"; break;
      default: got = "a date/time"; break;
    }
  }
  throw Error(fmt::format("{}: \"{}\" must be {}, got {}", location_of(key), key_path(key),
                          expected, got));
}

const toml::node* TableReader::raw(const std::string& key) {
  asked_.insert(key);
  return table_->get(key);
}

std::optional<std::int64_t> TableReader::integer(const std::string& key) {
  const toml::node* n = raw(key);
  if (!n) return std::nullopt;
  if (!n->is_integer()) throw_type(key, "an integer");
  return n->value<std::int64_t>();
}

std::optional<double> TableReader::number(const std::string& key) {
  const toml::node* n = raw(key);
  if (!n) return std::nullopt;
  if (!n->is_number()) throw_type(key, "a number");
  const double v = *n->value<double>();
  // TOML writes nan and inf; no key of ours takes them.
  if (!std::isfinite(v)) {
    throw Error(fmt::format("{}: \"{}\" must be a finite number, got {}", location_of(key),
                            key_path(key), v));
  }
  return v;
}

std::optional<std::string> TableReader::string(const std::string& key) {
  const toml::node* n = raw(key);
  if (!n) return std::nullopt;
  if (!n->is_string()) throw_type(key, "a string");
  return n->value<std::string>();
}

std::optional<bool> TableReader::boolean(const std::string& key) {
  const toml::node* n = raw(key);
  if (!n) return std::nullopt;
  if (!n->is_boolean()) throw_type(key, "a boolean (true or false)");
  return n->value<bool>();
}

std::optional<double> TableReader::quantity(const std::string& key, Dimension dim,
                                            bool allow_negative) {
  const toml::node* n = raw(key);
  if (!n) return std::nullopt;
  if (!n->is_string()) throw_type(key, "a string with a unit, such as \"3.35 TB/s\"");
  return parse_quantity(*n->value<std::string>(), dim,
                        fmt::format("{}: \"{}\"", location_of(key), key_path(key)),
                        allow_negative);
}

std::optional<std::int64_t> TableReader::integer_in(const std::string& key, std::int64_t lo,
                                                    std::int64_t hi) {
  const auto v = integer(key);
  if (v && (*v < lo || *v > hi)) {
    throw Error(fmt::format("{}: \"{}\" must be an integer from {} to {}, got {}", location_of(key),
                            key_path(key), lo, hi, *v));
  }
  return v;
}

std::optional<double> TableReader::number_in(const std::string& key, double lo, double hi) {
  const auto v = number(key);
  if (v && !(*v >= lo && *v <= hi)) {
    throw Error(fmt::format("{}: \"{}\" must be from {} to {}, got {}", location_of(key),
                            key_path(key), lo, hi, *v));
  }
  return v;
}

std::optional<TableReader> TableReader::table(const std::string& key) {
  const toml::node* n = raw(key);
  if (!n) return std::nullopt;
  if (!n->is_table()) throw_type(key, "a table");
  return TableReader(*n->as_table(), file_, key_path(key));
}

std::vector<TableReader> TableReader::tables(const std::string& key) {
  const toml::node* n = raw(key);
  if (!n) return {};
  const toml::array* a = n->as_array();
  if (a == nullptr || a->empty() || !a->is_array_of_tables()) {
    const std::string expected = "an array of tables (one [[" + key_path(key) + "]] entry each)";
    throw_type(key, expected.c_str());
  }
  std::vector<TableReader> out;
  for (std::size_t i = 0; i < a->size(); ++i) {
    out.emplace_back(*(*a)[i].as_table(), file_, fmt::format("{}[{}]", key_path(key), i));
  }
  return out;
}

void TableReader::finish() const {
  for (const auto& [k, v] : *table_) {
    const std::string key(k.str());
    if (asked_.count(key)) continue;
    std::vector<std::string> valid(asked_.begin(), asked_.end());
    throw Error(fmt::format("{}: unknown key \"{}\"{}; valid keys are: {}", where(file_, &v),
                            key_path(key),
                            section_.empty() ? std::string() : fmt::format(" in [{}]", section_),
                            join(valid)));
  }
}

toml::table parse_toml_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(fmt::format("file {} does not exist", path));
  check_input_file(path, "file");
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}:{}:{}: malformed TOML: {}", path, e.source().begin.line,
                            e.source().begin.column, e.description()));
  }
}

}  // namespace servesim
