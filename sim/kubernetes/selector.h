#pragma once
// Label selectors (equality and set syntax) and pod field selectors, parsed from the query
// strings of list, watch and deletecollection, as the API server accepts them.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::sim::kubernetes {

using Labels = std::map<std::string, std::string>;

class LabelSelector {
 public:
  // Parses `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, comma = AND.
  // On error returns nullopt and sets `error` to the API server's wording.
  static std::optional<LabelSelector> parse(const std::string& text, std::string& error);
  bool matches(const Labels& labels) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

// Pod field selector: only the fields real API servers support for pods, ops `=`, `==`, `!=`.
class FieldSelector {
 public:
  static std::optional<FieldSelector> parse(const std::string& text, std::string& error);
  // `fields` maps every supported field to its value for one pod.
  bool matches(const std::map<std::string, std::string>& fields) const;
  static const std::vector<std::string>& supported_fields();

 private:
  struct Term {
    std::string field;
    bool equals;
    std::string value;
  };
  std::vector<Term> terms_;
};

}  // namespace berth::sim::kubernetes
