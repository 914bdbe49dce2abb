#include "config/yaml_json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

namespace berth {

boost::json::value yaml_node_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Sequence: {
      boost::json::array array;
      for (const auto& item : node) array.push_back(yaml_node_to_json(item));
      return array;
    }
    case YAML::NodeType::Map: {
      boost::json::object object;
      for (const auto& item : node) object[item.first.as<std::string>()] = yaml_node_to_json(item.second);
      return object;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string text = node.Scalar();
  if (node.Tag() != "?") return boost::json::string(text);  // quoted or explicitly tagged
  if (text == "null" || text == "Null" || text == "NULL" || text == "~") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (!text.empty()) {
    char* end = nullptr;
    errno = 0;
    const long long integer = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0 && end == text.c_str() + text.size() && text.find_first_of("xXoO") == std::string::npos) {
      return static_cast<std::int64_t>(integer);
    }
    const bool numeric = text.find_first_not_of("0123456789.eE+-") == std::string::npos &&
                         text.find_first_of("0123456789") != std::string::npos;
    if (numeric) {
      const double number = std::strtod(text.c_str(), &end);
      if (end == text.c_str() + text.size() && std::isfinite(number)) return number;
    }
  }
  return boost::json::string(text);
}

StatusOr<boost::json::value> yaml_to_json(const std::string& text) {
  try {
    return yaml_node_to_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                   ": " + e.msg);
  }
}

}  // namespace berth
