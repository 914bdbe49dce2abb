#include "sim/mesos/resources.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <sstream>

namespace berth::sim::mesos {
namespace json = boost::json;

std::int64_t to_milli(double value) { return static_cast<std::int64_t>(std::llround(value * 1000.0)); }

Ranges normalise(Ranges ranges) {
  std::sort(ranges.begin(), ranges.end());
  Ranges out;
  for (const auto& [begin, end] : ranges) {
    if (!out.empty() && begin <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, end);
    } else {
      out.emplace_back(begin, end);
    }
  }
  return out;
}

std::string format_ranges(const Ranges& ranges) {
  std::string out = "[";
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ranges[i].first) + "-" + std::to_string(ranges[i].second);
  }
  return out + "]";
}

std::optional<Ranges> parse_ranges(const std::string& text) {
  static const std::regex kRange("\\s*([0-9]+)\\s*-\\s*([0-9]+)\\s*");
  Ranges out;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    std::smatch match;
    if (!std::regex_match(part, match, kRange)) return std::nullopt;
    const auto begin = std::stoull(match[1].str());
    const auto end = std::stoull(match[2].str());
    if (begin > end) return std::nullopt;
    out.emplace_back(begin, end);
  }
  return normalise(std::move(out));
}

namespace {

bool ranges_contain(const Ranges& outer, const Ranges& inner) {
  for (const auto& wanted : inner) {
    const bool covered = std::any_of(outer.begin(), outer.end(), [&](const auto& range) {
      return range.first <= wanted.first && wanted.second <= range.second;
    });
    if (!covered) return false;
  }
  return true;
}

Ranges ranges_minus(const Ranges& from, const Ranges& take) {
  Ranges out;
  for (auto [begin, end] : from) {
    for (const auto& [take_begin, take_end] : take) {
      if (take_end < begin || take_begin > end) continue;
      if (take_begin > begin) out.emplace_back(begin, take_begin - 1);
      if (take_end >= end) {
        begin = end + 1;
        break;
      }
      begin = take_end + 1;
    }
    if (begin <= end) out.emplace_back(begin, end);
  }
  return normalise(std::move(out));
}

std::string milli_text(std::int64_t milli) {
  std::ostringstream out;
  out << static_cast<double>(milli) / 1000.0;
  return out.str();
}

}  // namespace

void Resources::add_scalar(const std::string& role, const std::string& name, std::int64_t milli) {
  if (milli <= 0) return;
  scalars_[{role, name}] += milli;
}

void Resources::add_ranges(const std::string& role, const std::string& name, const Ranges& ranges) {
  if (ranges.empty()) return;
  auto& mine = ranges_[{role, name}];
  mine.insert(mine.end(), ranges.begin(), ranges.end());
  mine = normalise(std::move(mine));
}

void Resources::add(const Resources& other) {
  for (const auto& [key, milli] : other.scalars_) add_scalar(key.first, key.second, milli);
  for (const auto& [key, ranges] : other.ranges_) add_ranges(key.first, key.second, ranges);
}

void Resources::subtract(const Resources& other) {
  for (const auto& [key, milli] : other.scalars_) {
    auto it = scalars_.find(key);
    if (it == scalars_.end()) continue;
    it->second -= milli;
    if (it->second <= 0) scalars_.erase(it);
  }
  for (const auto& [key, ranges] : other.ranges_) {
    auto it = ranges_.find(key);
    if (it == ranges_.end()) continue;
    it->second = ranges_minus(it->second, ranges);
    if (it->second.empty()) ranges_.erase(it);
  }
}

bool Resources::contains(const Resources& other) const {
  for (const auto& [key, milli] : other.scalars_) {
    auto it = scalars_.find(key);
    if (it == scalars_.end() || it->second < milli) return false;
  }
  for (const auto& [key, ranges] : other.ranges_) {
    auto it = ranges_.find(key);
    if (it == ranges_.end() || !ranges_contain(it->second, ranges)) return false;
  }
  return true;
}

Resources Resources::offerable_to(const std::string& role) const {
  Resources out;
  for (const auto& [key, milli] : scalars_) {
    if (key.first == "*" || key.first == role) out.scalars_[key] = milli;
  }
  for (const auto& [key, ranges] : ranges_) {
    if (key.first == "*" || key.first == role) out.ranges_[key] = ranges;
  }
  return out;
}

Resources Resources::without(const std::string& name) const {
  Resources out = *this;
  std::erase_if(out.scalars_, [&](const auto& entry) { return entry.first.second == name; });
  std::erase_if(out.ranges_, [&](const auto& entry) { return entry.first.second == name; });
  return out;
}

double Resources::scalar(const std::string& name) const {
  std::int64_t milli = 0;
  for (const auto& [key, value] : scalars_) {
    if (key.second == name) milli += value;
  }
  return static_cast<double>(milli) / 1000.0;
}

std::string Resources::describe() const {
  std::string out;
  auto separate = [&] {
    if (!out.empty()) out += "; ";
  };
  for (const auto& [key, milli] : scalars_) {
    separate();
    out += key.second + "(" + key.first + "):" + milli_text(milli);
  }
  for (const auto& [key, ranges] : ranges_) {
    separate();
    out += key.second + "(" + key.first + "):" + format_ranges(ranges);
  }
  return out.empty() ? "{}" : out;
}

json::array Resources::to_json(const std::string& allocation_role, bool refinement) const {
  json::array out;
  auto common = [&](json::object& resource, const std::string& role) {
    if (refinement) {
      json::array reservations;
      if (role != "*") reservations.push_back(json::object{{"type", "STATIC"}, {"role", role}});
      resource["reservations"] = std::move(reservations);
    } else {
      resource["role"] = role;
    }
    if (!allocation_role.empty()) resource["allocation_info"] = json::object{{"role", allocation_role}};
  };
  for (const auto& [key, milli] : scalars_) {
    json::object resource{{"name", key.second},
                          {"type", "SCALAR"},
                          {"scalar", json::object{{"value", static_cast<double>(milli) / 1000.0}}}};
    common(resource, key.first);
    out.push_back(std::move(resource));
  }
  for (const auto& [key, ranges] : ranges_) {
    json::array range;
    for (const auto& [begin, end] : ranges) range.push_back(json::object{{"begin", begin}, {"end", end}});
    json::object resource{{"name", key.second},
                          {"type", "RANGES"},
                          {"ranges", json::object{{"range", std::move(range)}}}};
    common(resource, key.first);
    out.push_back(std::move(resource));
  }
  return out;
}

namespace {

std::optional<double> number_of(const json::value& value) {
  if (value.is_number()) return value.to_number<double>();
  if (value.is_string()) {  // JSON doubles may be written as strings
    try {
      return std::stod(std::string(value.as_string()));
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> bound_of(const json::value& value) {
  auto number = number_of(value);
  if (!number || *number < 0) return std::nullopt;
  return static_cast<std::uint64_t>(*number);
}

}  // namespace

std::optional<std::string> parse_resources(const json::value& array, Resources& out,
                                           std::vector<ParsedResource>& parsed) {
  if (!array.is_array()) return "Expecting 'resources' to be an array";
  for (const auto& item : array.as_array()) {
    if (!item.is_object()) return "Expecting a resource to be an object";
    const auto& resource = item.as_object();
    const auto* name = resource.if_contains("name");
    const auto* type = resource.if_contains("type");
    if (!name || !name->is_string() || !type || !type->is_string()) {
      return "Invalid resources: expecting 'name' and 'type' to be present";
    }
    ParsedResource one;
    if (const auto* reservations = resource.if_contains("reservations");
        reservations && reservations->is_array() && !reservations->as_array().empty()) {
      const auto& last = reservations->as_array().back();
      if (last.is_object() && last.as_object().contains("role") && last.as_object().at("role").is_string()) {
        one.role = std::string(last.as_object().at("role").as_string());
      }
    } else if (const auto* role = resource.if_contains("role"); role && role->is_string()) {
      one.role = std::string(role->as_string());
    }
    if (const auto* info = resource.if_contains("allocation_info"); info && info->is_object()) {
      if (const auto* role = info->as_object().if_contains("role"); role && role->is_string()) {
        one.allocation_role = std::string(role->as_string());
      }
    }
    const std::string resource_name(name->as_string());
    const std::string resource_type(type->as_string());
    if (resource_type == "SCALAR") {
      const auto* scalar = resource.if_contains("scalar");
      const json::value* value = scalar && scalar->is_object() ? scalar->as_object().if_contains("value") : nullptr;
      auto number = value ? number_of(*value) : std::nullopt;
      if (!number || !std::isfinite(*number)) {
        return "Invalid scalar resource " + resource_name + ": expecting 'scalar.value'";
      }
      if (*number < 0) return "Resource '" + resource_name + "' is invalid: Invalid scalar resource: negative value";
      if (resource_name == "gpus" && std::floor(*number) != *number) {
        return "The 'gpus' resource must be an unsigned integer";
      }
      out.add_scalar(one.role, resource_name, to_milli(*number));
    } else if (resource_type == "RANGES") {
      const auto* ranges = resource.if_contains("ranges");
      const json::value* range = ranges && ranges->is_object() ? ranges->as_object().if_contains("range") : nullptr;
      if (!range || !range->is_array()) return "Invalid ranges resource " + resource_name + ": expecting 'ranges.range'";
      Ranges values;
      for (const auto& r : range->as_array()) {
        if (!r.is_object()) return "Invalid ranges resource " + resource_name;
        const auto* begin = r.as_object().if_contains("begin");
        const auto* end = r.as_object().if_contains("end");
        auto b = begin ? bound_of(*begin) : std::nullopt;
        auto e = end ? bound_of(*end) : std::nullopt;
        if (!b || !e || *b > *e) return "Invalid ranges resource " + resource_name + ": malformed range";
        values.emplace_back(*b, *e);
      }
      out.add_ranges(one.role, resource_name, normalise(std::move(values)));
    } else {
      return "Resource '" + resource_name + "' has type " + resource_type + ", which berth-sim does not offer";
    }
    parsed.push_back(std::move(one));
  }
  return std::nullopt;
}

}  // namespace berth::sim::mesos
