#pragma once
// YAML documents and nodes as JSON values, for backend objects that operators write in YAML but
// that travel as JSON (pod templates, Nomad driver configs). Plain scalars are typed as YAML 1.2's
// core schema (null, booleans, integers, floats); quoted or tagged scalars stay strings.
//
// Pure; thread-safe.

#include <yaml-cpp/yaml.h>

#include <boost/json/value.hpp>
#include <string>

#include "base/status.h"

namespace berth {

boost::json::value yaml_node_to_json(const YAML::Node& node);

// kInvalidArgument with line:column on a syntax error.
StatusOr<boost::json::value> yaml_to_json(const std::string& text);

}  // namespace berth
