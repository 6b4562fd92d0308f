// Strict reading of one TOML table into plain values. Every key asked for is remembered, so
// that `finish()` can reject the keys nobody asked for, naming file:line:col and listing the
// valid ones. Type errors say which type was expected.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "sim/core/quantity_parse.hpp"

namespace servesim {

// "file:line:col" of a node (or of the file when the node has no source position).
std::string where(const std::string& file, const toml::node* node);

class TableReader {
 public:
  // `section` is the dotted name of this table ("" for the root), used in messages.
  TableReader(const toml::table& table, std::string file, std::string section);

  std::optional<std::int64_t> integer(const std::string& key);
  std::optional<double> number(const std::string& key);  // integer or float; finite
  // The same, refused outside [lo, hi] (the range named in the message).
  std::optional<std::int64_t> integer_in(const std::string& key, std::int64_t lo, std::int64_t hi);
  std::optional<double> number_in(const std::string& key, double lo, double hi);
  std::optional<std::string> string(const std::string& key);
  std::optional<bool> boolean(const std::string& key);
  std::optional<double> quantity(const std::string& key, Dimension dim, bool allow_negative = false);
  std::optional<TableReader> table(const std::string& key);
  // An array of tables ([[key]] entries), each named "key[i]" in messages; empty when absent.
  std::vector<TableReader> tables(const std::string& key);
  // A key that may hold a string or a table (e.g. `prompt_tokens = 512` or a length table).
  const toml::node* raw(const std::string& key);

  template <class T>
  T required(std::optional<T> value, const std::string& key) const {
    if (!value) throw_missing(key);
    return *value;
  }

  void finish() const;  // throws Error on any key not asked for
  std::string location() const;
  std::string location_of(const std::string& key) const;
  std::string key_path(const std::string& key) const;
  const std::string& file() const { return file_; }

 private:
  [[noreturn]] void throw_missing(const std::string& key) const;
  [[noreturn]] void throw_type(const std::string& key, const char* expected) const;
  const toml::table* table_;
  std::string file_;
  std::string section_;
  std::set<std::string> asked_;
};

// Parses a TOML file, turning parse errors into Error with file:line:col.
toml::table parse_toml_file(const std::string& path);

}  // namespace servesim
