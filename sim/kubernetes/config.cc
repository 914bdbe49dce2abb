// berth-sim kubernetes --config FILE: YAML over the command-line defaults.

#include <yaml-cpp/yaml.h>

#include <regex>

#include "sim/kubernetes/simulator.h"

namespace berth::sim::kubernetes {
namespace {

std::string where(const std::string& path, const YAML::Node& node) {
  const auto mark = node.Mark();
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// "250ms", "5s", "2m" or a bare number of milliseconds.
std::optional<std::chrono::milliseconds> duration(const std::string& text) {
  static const std::regex kPattern("([0-9]+(\\.[0-9]+)?)(ms|s|m|h)?");
  std::smatch match;
  if (!std::regex_match(text, match, kPattern)) return std::nullopt;
  double value = std::stod(match[1].str());
  const std::string unit = match[3].str();
  if (unit == "s") value *= 1000;
  if (unit == "m") value *= 60'000;
  if (unit == "h") value *= 3'600'000;
  return std::chrono::milliseconds(static_cast<std::int64_t>(value));
}

std::map<std::string, std::string> string_map(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  if (!node) return out;
  for (const auto& entry : node) out[entry.first.as<std::string>()] = entry.second.as<std::string>();
  return out;
}

}  // namespace

StatusOr<SimulatorOptions> load_config(const std::string& path, SimulatorOptions base) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) return Status::InvalidArgument(path + ": the top level must be a map");
  static const std::vector<std::string> kKeys = {"listen", "token", "time_scale", "history_limit", "bookmark_interval",
                                                 "watch_timeout", "seed", "tls", "nodes", "quotas", "behaviours"};
  for (const auto& entry : root) {
    const auto key = entry.first.as<std::string>();
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return Status::InvalidArgument(where(path, entry.first) + ": unknown key " + key);
    }
  }
  try {
    if (root["listen"]) base.listen = root["listen"].as<std::string>();
    if (root["token"]) base.token = root["token"].as<std::string>();
    if (root["time_scale"]) {
      base.time_scale = root["time_scale"].as<double>();
      if (base.time_scale <= 0) return Status::InvalidArgument(where(path, root["time_scale"]) + ": time_scale must be > 0");
    }
    if (root["history_limit"]) base.history_limit = root["history_limit"].as<std::size_t>();
    if (root["seed"]) base.seed = root["seed"].as<std::uint64_t>();
    if (root["bookmark_interval"]) {
      auto d = duration(root["bookmark_interval"].as<std::string>());
      if (!d) return Status::InvalidArgument(where(path, root["bookmark_interval"]) + ": bad duration");
      base.bookmark_interval = *d;
    }
    if (root["watch_timeout"]) {
      auto d = duration(root["watch_timeout"].as<std::string>());
      if (!d) return Status::InvalidArgument(where(path, root["watch_timeout"]) + ": bad duration");
      base.default_watch_timeout = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    if (const auto tls = root["tls"]) {
      if (tls["cert"]) base.tls_cert_file = tls["cert"].as<std::string>();
      if (tls["key"]) base.tls_key_file = tls["key"].as<std::string>();
      if (tls["client_ca"]) base.client_ca_file = tls["client_ca"].as<std::string>();
    }
    if (const auto nodes = root["nodes"]) {
      base.nodes.clear();
      for (const auto& n : nodes) {
        NodeSpec spec;
        if (!n["name"]) return Status::InvalidArgument(where(path, n) + ": node needs a name");
        spec.name = n["name"].as<std::string>();
        if (n["cpu"]) spec.cpu = n["cpu"].as<std::string>();
        if (n["memory"]) spec.memory = n["memory"].as<std::string>();
        if (n["gpu"]) spec.gpu = n["gpu"].as<std::string>();
        if (n["max_pods"]) spec.max_pods = n["max_pods"].as<int>();
        spec.labels = string_map(n["labels"]);
        base.nodes.push_back(std::move(spec));
      }
    }
    if (const auto quotas = root["quotas"]) {
      for (const auto& q : quotas) {
        QuotaSpec spec;
        if (!q["namespace"] || !q["name"]) return Status::InvalidArgument(where(path, q) + ": quota needs namespace and name");
        spec.namespace_name = q["namespace"].as<std::string>();
        spec.name = q["name"].as<std::string>();
        spec.hard = string_map(q["hard"]);
        base.quotas.push_back(std::move(spec));
      }
    }
    if (const auto rules = root["behaviours"]) {
      for (const auto& r : rules) {
        BehaviourRule rule;
        rule.selector = r["selector"] ? r["selector"].as<std::string>() : "";
        rule.annotations = string_map(r["annotations"]);
        base.behaviours.push_back(std::move(rule));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                   ": " + e.msg);
  }
  return base;
}

}  // namespace berth::sim::kubernetes
