#include "config/section.h"

#include <charconv>
#include <limits>
#include <utility>

#include "config/text.h"

namespace berth::config {

struct Section::Errors {
  std::optional<Status> first;
};

namespace {

const char* type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "something else";
}

bool present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

std::string join_path(const std::string& path, const std::string& key) {
  if (path.empty()) return key;
  if (key.empty()) return path;
  return path + "." + key;
}

// "default_pools[1]" -> {"default_pools", 1}; anything else -> nullopt.
std::optional<std::pair<std::string, std::size_t>> split_index(const std::string& key) {
  const auto open = key.find('[');
  if (open == std::string::npos || open == 0 || key.back() != ']') return std::nullopt;
  std::size_t index = 0;
  const char* first = key.data() + open + 1;
  const char* last = key.data() + key.size() - 1;
  auto [end, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || end != last || first == last) return std::nullopt;
  return std::make_pair(key.substr(0, open), index);
}

}  // namespace

Section::Section(YAML::Node node, std::string file, std::string path)
    : Section(std::move(node), std::move(file), std::move(path), YAML::Mark::null_mark(),
              std::make_shared<Errors>()) {}

Section::Section(YAML::Node node, std::string file, std::string path, YAML::Mark where)
    : Section(std::move(node), std::move(file), std::move(path), where,
              std::make_shared<Errors>()) {}

Section::Section(YAML::Node node, std::string file, std::string path, YAML::Mark where,
                 std::shared_ptr<Errors> errors)
    : node_(std::move(node)),
      mark_(where),
      file_(std::move(file)),
      path_(std::move(path)),
      errors_(std::move(errors)) {
  if (node_.IsDefined() && !node_.Mark().is_null()) mark_ = node_.Mark();
  if (present(node_) && !node_.IsMap()) {
    record(mark_, "", std::string("expected a mapping, got ") + type_name(node_));
    node_ = YAML::Node();  // read as empty from now on
  }
}

YAML::Node Section::value(const std::string& key, YAML::Mark* mark) const {
  *mark = mark_;
  if (!node_.IsMap()) return YAML::Node();
  // Iterating (rather than node_[key]) never inserts into the document and finds the first of
  // duplicate keys, which finish() reports.
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      const YAML::Node found = it->second;
      *mark = !found.Mark().is_null() ? found.Mark() : it->first.Mark();
      return found;
    }
  }
  return YAML::Node();
}

void Section::record(const YAML::Mark& mark, const std::string& key, const std::string& message) {
  if (errors_->first) return;
  std::string text = file_;
  if (!mark.is_null()) {
    text += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  const std::string path = join_path(path_, key);
  if (!path.empty()) text += ": " + path;
  text += ": " + message;
  errors_->first = Status::InvalidArgument(std::move(text));
}

bool Section::has(const std::string& key) const {
  YAML::Mark mark;
  return present(value(key, &mark));
}

std::string Section::get_string(const std::string& key, const std::string& fallback) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  if (!present(v)) return fallback;
  if (!v.IsScalar()) {
    record(mark, key, std::string("expected a string, got ") + type_name(v));
    return fallback;
  }
  return v.Scalar();
}

std::string Section::require_string(const std::string& key) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  if (!present(v)) {
    record(mark, key, "is required");
    return "";
  }
  if (!v.IsScalar()) {
    record(mark, key, std::string("expected a string, got ") + type_name(v));
    return "";
  }
  if (v.Scalar().empty()) record(mark, key, "must not be empty");
  return v.Scalar();
}

std::int64_t Section::get_int(const std::string& key, std::int64_t fallback, std::int64_t min,
                              std::int64_t max) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  if (!present(v)) return fallback;
  if (!v.IsScalar()) {
    record(mark, key, std::string("expected an integer, got ") + type_name(v));
    return fallback;
  }
  const std::string& text = v.Scalar();
  std::int64_t result = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  auto [end, ec] = std::from_chars(first, last, result);
  if (ec == std::errc::result_out_of_range) {
    record(mark, key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                          ", got " + quote(text));
    return fallback;
  }
  if (ec != std::errc() || end != last || first == last) {
    record(mark, key, "expected an integer, got " + quote(text));
    return fallback;
  }
  if (result < min || result > max) {
    record(mark, key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                          ", got " + std::to_string(result));
    return fallback;
  }
  return result;
}

bool Section::get_bool(const std::string& key, bool fallback) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  if (!present(v)) return fallback;
  if (v.IsScalar()) {
    const std::string word = lower(v.Scalar());
    if (word == "true" || word == "yes" || word == "on") return true;
    if (word == "false" || word == "no" || word == "off") return false;
    record(mark, key, "expected true or false, got " + quote(v.Scalar()));
  } else {
    record(mark, key, std::string("expected true or false, got ") + type_name(v));
  }
  return fallback;
}

Duration Section::get_duration(const std::string& key, Duration fallback) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  if (!present(v)) return fallback;
  const std::string expected = "expected a duration such as 500ms, 10s or 5m, got ";
  if (!v.IsScalar()) {
    record(mark, key, expected + type_name(v));
    return fallback;
  }
  const std::optional<Duration> parsed = parse_duration(v.Scalar());
  if (!parsed) {
    record(mark, key, expected + quote(v.Scalar()));
    return fallback;
  }
  return *parsed;
}

std::vector<std::string> Section::get_string_list(const std::string& key) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  std::vector<std::string> result;
  if (!present(v)) return result;
  if (!v.IsSequence()) {
    record(mark, key, std::string("expected a list of strings, got ") + type_name(v));
    return result;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    const YAML::Node item = v[i];
    if (!item.IsScalar()) {
      record(item.Mark().is_null() ? mark : item.Mark(), key + "[" + std::to_string(i) + "]",
             std::string("expected a string, got ") + type_name(item));
      return {};
    }
    result.push_back(item.Scalar());
  }
  return result;
}

std::map<std::string, std::string> Section::get_string_map(const std::string& key) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  std::map<std::string, std::string> result;
  if (!present(v)) return result;
  if (!v.IsMap()) {
    record(mark, key, std::string("expected a mapping of strings, got ") + type_name(v));
    return result;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->first.IsScalar()) {
      record(it->first.Mark(), key, std::string("expected a string key, got ") +
                                        type_name(it->first));
      return {};
    }
    const std::string& name = it->first.Scalar();
    if (!it->second.IsScalar()) {
      record(it->second.Mark().is_null() ? it->first.Mark() : it->second.Mark(),
             join_path(key, name), std::string("expected a string, got ") + type_name(it->second));
      return {};
    }
    if (!result.emplace(name, it->second.Scalar()).second) {
      record(it->first.Mark(), join_path(key, name), "duplicate key");
      return {};
    }
  }
  return result;
}

Section Section::child(const std::string& key) {
  known_.insert(key);
  YAML::Mark mark;
  YAML::Node v = value(key, &mark);
  return Section(present(v) ? v : YAML::Node(), file_, join_path(path_, key), mark, errors_);
}

std::vector<Section> Section::children(const std::string& key) {
  known_.insert(key);
  YAML::Mark mark;
  const YAML::Node v = value(key, &mark);
  std::vector<Section> result;
  if (!present(v)) return result;
  if (!v.IsSequence()) {
    record(mark, key, std::string("expected a list of mappings, got ") + type_name(v));
    return result;
  }
  result.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    YAML::Node item = v[i];
    result.push_back(Section(item, file_, join_path(path_, key) + "[" + std::to_string(i) + "]",
                             mark, errors_));
    if (present(item) && !item.IsMap()) return {};  // the constructor recorded it
  }
  return result;
}

void Section::error(const std::string& key, const std::string& message) {
  YAML::Mark mark;
  if (!key.empty() && !present(value(key, &mark))) {
    if (auto indexed = split_index(key)) {
      const YAML::Node list = value(indexed->first, &mark);
      if (list.IsSequence() && indexed->second < list.size()) {
        const YAML::Node item = list[indexed->second];
        if (!item.Mark().is_null()) mark = item.Mark();
      }
    }
  }
  if (key.empty()) mark = mark_;
  record(mark, key, message);
}

Status Section::finish() {
  if (node_.IsMap()) {
    std::set<std::string> seen;
    for (auto it = node_.begin(); it != node_.end() && !errors_->first; ++it) {
      const YAML::Node key = it->first;  // a copy: `it->first` lives in a temporary
      if (!key.IsScalar()) {
        record(key.Mark(), "", std::string("expected a string key, got ") + type_name(key));
        break;
      }
      const std::string& name = key.Scalar();
      if (!seen.insert(name).second) {
        record(key.Mark(), name, "duplicate key");
      } else if (!known_.count(name)) {
        std::string known_list;
        for (const std::string& k : known_) known_list += (known_list.empty() ? "" : ", ") + k;
        record(key.Mark(), name,
               known_list.empty() ? "unknown key: this section takes no keys"
                                  : "unknown key (known here: " + known_list + ")");
      }
    }
  }
  return errors_->first ? *errors_->first : Status::Ok();
}

}  // namespace berth::config
