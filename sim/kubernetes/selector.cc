#include "sim/kubernetes/selector.h"

#include <algorithm>
#include <cctype>

namespace berth::sim::kubernetes {
namespace {

std::string trim(const std::string& text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> split_top_level(const std::string& text) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  return parts;
}

bool valid_label_value(const std::string& value) {
  if (value.size() > 63) return false;
  if (value.empty()) return true;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(value.front()) || !alnum(value.back())) return false;
  return std::all_of(value.begin(), value.end(), [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool valid_key(const std::string& key) {
  if (key.empty()) return false;
  const auto slash = key.find('/');
  const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  return !name.empty() && valid_label_value(name) &&
         std::none_of(key.begin(), key.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

}  // namespace

std::optional<LabelSelector> LabelSelector::parse(const std::string& text, std::string& error) {
  LabelSelector selector;
  if (trim(text).empty()) return selector;
  for (const std::string& raw : split_top_level(text)) {
    const std::string part = trim(raw);
    Requirement req;
    auto fail = [&](const std::string& why) {
      error = "unable to parse requirement: " + why;
      return std::nullopt;
    };
    if (part.empty()) return fail("found '', expected: identifier");
    if (part[0] == '!') {
      req.key = trim(part.substr(1));
      req.op = Op::kDoesNotExist;
    } else if (auto pos = part.find("!="); pos != std::string::npos) {
      req.key = trim(part.substr(0, pos));
      req.op = Op::kNotEquals;
      req.values = {trim(part.substr(pos + 2))};
    } else if (auto pos2 = part.find("=="); pos2 != std::string::npos) {
      req.key = trim(part.substr(0, pos2));
      req.op = Op::kEquals;
      req.values = {trim(part.substr(pos2 + 2))};
    } else if (auto pos3 = part.find('='); pos3 != std::string::npos) {
      req.key = trim(part.substr(0, pos3));
      req.op = Op::kEquals;
      req.values = {trim(part.substr(pos3 + 1))};
    } else if (auto open = part.find('('); open != std::string::npos) {
      const auto close = part.rfind(')');
      if (close == std::string::npos || close < open || trim(part.substr(close + 1)) != "") {
        return fail("found '" + part + "', expected: ')'");
      }
      std::string head = trim(part.substr(0, open));
      std::string op;
      const auto space = head.find_last_of(" \t");
      if (space == std::string::npos) return fail("found '" + head + "', expected: in, notin");
      op = trim(head.substr(space + 1));
      req.key = trim(head.substr(0, space));
      if (op == "in") {
        req.op = Op::kIn;
      } else if (op == "notin") {
        req.op = Op::kNotIn;
      } else {
        return fail("found '" + op + "', expected: in, notin, =, ==, !=");
      }
      std::string inside = part.substr(open + 1, close - open - 1);
      std::size_t start = 0;
      while (true) {
        const auto comma = inside.find(',', start);
        req.values.push_back(trim(inside.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (req.values.size() == 1 && req.values[0].empty()) req.values.clear();
      if (req.values.empty()) return fail("for 'in', 'notin' operators, values set can't be empty");
    } else {
      req.key = part;
      req.op = Op::kExists;
    }
    if (!valid_key(req.key)) return fail("invalid label key \"" + req.key + "\"");
    for (const auto& value : req.values) {
      if (!valid_label_value(value)) return fail("invalid label value: \"" + value + "\"");
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& req : requirements_) {
    auto it = labels.find(req.key);
    const bool present = it != labels.end();
    const auto in_values = [&] {
      return present && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    };
    switch (req.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!in_values()) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (in_values()) return false;
        break;
      case Op::kExists:
        if (!present) return false;
        break;
      case Op::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

const std::vector<std::string>& FieldSelector::supported_fields() {
  static const std::vector<std::string> kFields = {
      "metadata.name",      "metadata.namespace",      "spec.nodeName",   "spec.restartPolicy",
      "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
      "status.podIP",       "status.podIPs",           "status.nominatedNodeName"};
  return kFields;
}

std::optional<FieldSelector> FieldSelector::parse(const std::string& text, std::string& error) {
  FieldSelector selector;
  if (trim(text).empty()) return selector;
  for (const std::string& raw : split_top_level(text)) {
    const std::string part = trim(raw);
    Term term;
    std::size_t pos;
    std::size_t length;
    if ((pos = part.find("!=")) != std::string::npos) {
      term.equals = false;
      length = 2;
    } else if ((pos = part.find("==")) != std::string::npos) {
      term.equals = true;
      length = 2;
    } else if ((pos = part.find('=')) != std::string::npos) {
      term.equals = true;
      length = 1;
    } else {
      error = "invalid selector: '" + part + "'; can't understand '" + part + "'";
      return std::nullopt;
    }
    term.field = trim(part.substr(0, pos));
    term.value = trim(part.substr(pos + length));
    const auto& fields = supported_fields();
    if (std::find(fields.begin(), fields.end(), term.field) == fields.end()) {
      error = "field label not supported: " + term.field;
      return std::nullopt;
    }
    selector.terms_.push_back(std::move(term));
  }
  return selector;
}

bool FieldSelector::matches(const std::map<std::string, std::string>& fields) const {
  for (const auto& term : terms_) {
    auto it = fields.find(term.field);
    const std::string value = it == fields.end() ? std::string() : it->second;
    if ((value == term.value) != term.equals) return false;
  }
  return true;
}

}  // namespace berth::sim::kubernetes
