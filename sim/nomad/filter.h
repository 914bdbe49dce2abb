#pragma once
// Filter: the subset of go-bexpr (Nomad's `?filter=` language) that the simulator evaluates over
// the JSON of list items:
//
//   <selector> == "v" | != "v" | contains "v" | not contains "v" | matches "re" | not matches "re"
//   <selector> is empty | is not empty
//   "v" in <selector> | "v" not in <selector>
//   combined with and, or, not and parentheses.
//
// A selector is a dotted path of field names (`Meta.owner`, `JobSummary.JobID`), with
// `Meta["a.b/c"]` for keys that are not plain names. Values are "double-quoted" or `backquoted`
// strings, numbers, true/false or bare words; they compare with the field's JSON value as text.
// `contains` / `in` test substrings of strings, elements of arrays and keys of objects. A missing
// field equals nothing and is empty.
//
// Thread-safety: an immutable value once parsed.

#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <string>

namespace berth::sim::nomad {

class Filter {
 public:
  // nullopt with `error` set when the expression does not parse.
  static std::optional<Filter> parse(const std::string& text, std::string& error);
  bool matches(const boost::json::value& item) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace berth::sim::nomad
