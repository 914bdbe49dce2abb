// berth-sim mesos --config FILE: YAML over the command-line defaults.

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "sim/mesos/internal.h"

namespace berth::sim::mesos {
namespace {

std::string where(const std::string& path, const YAML::Node& node) {
  const auto mark = node.Mark();
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::map<std::string, std::string> string_map(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  if (!node) return out;
  for (const auto& entry : node) out[entry.first.as<std::string>()] = entry.second.as<std::string>();
  return out;
}

Status check_keys(const std::string& path, const YAML::Node& node, const std::vector<std::string>& keys) {
  if (!node.IsMap()) return Status::InvalidArgument(where(path, node) + ": expected a map");
  for (const auto& entry : node) {
    const auto key = entry.first.as<std::string>();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      return Status::InvalidArgument(where(path, entry.first) + ": unknown key " + key);
    }
  }
  return Status::Ok();
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
  if (Status s = check_keys(path, root,
                            {"listen", "standby_listen", "principal", "secret", "time_scale", "seed", "tls", "agents",
                             "heartbeat_interval", "update_retry", "staging_update", "behaviours"});
      !s.ok()) {
    return s;
  }
  try {
    if (root["listen"]) base.listen = root["listen"].as<std::string>();
    if (root["standby_listen"]) base.standby_listen = root["standby_listen"].as<std::string>();
    if (root["principal"]) base.principal = root["principal"].as<std::string>();
    if (root["secret"]) base.secret = root["secret"].as<std::string>();
    if (root["seed"]) base.seed = root["seed"].as<std::uint64_t>();
    if (root["staging_update"]) base.staging_update = root["staging_update"].as<bool>();
    if (root["time_scale"]) {
      base.time_scale = root["time_scale"].as<double>();
      if (base.time_scale <= 0) return Status::InvalidArgument(where(path, root["time_scale"]) + ": time_scale must be > 0");
    }
    if (root["heartbeat_interval"]) {
      auto seconds = parse_duration(root["heartbeat_interval"].as<std::string>());
      if (!seconds || *seconds <= 0) return Status::InvalidArgument(where(path, root["heartbeat_interval"]) + ": bad duration");
      base.heartbeat_interval = std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
    }
    if (root["update_retry"]) {
      auto seconds = parse_duration(root["update_retry"].as<std::string>());
      if (!seconds || *seconds <= 0) return Status::InvalidArgument(where(path, root["update_retry"]) + ": bad duration");
      base.update_retry_seconds = *seconds;
    }
    if (const auto tls = root["tls"]) {
      if (Status s = check_keys(path, tls, {"cert", "key"}); !s.ok()) return s;
      if (tls["cert"]) base.tls_cert_file = tls["cert"].as<std::string>();
      if (tls["key"]) base.tls_key_file = tls["key"].as<std::string>();
    }
    if (const auto agents = root["agents"]) {
      if (agents.IsScalar()) {
        base.agents = agents.as<int>();
      } else {
        base.agent_specs.clear();
        for (const auto& a : agents) {
          if (Status s = check_keys(path, a, {"hostname", "cpus", "mem", "disk", "gpus", "ports", "attributes", "reserved"});
              !s.ok()) {
            return s;
          }
          if (!a["hostname"]) return Status::InvalidArgument(where(path, a) + ": agent needs a hostname");
          AgentSpec spec;
          spec.hostname = a["hostname"].as<std::string>();
          if (a["cpus"]) spec.cpus = a["cpus"].as<double>();
          if (a["mem"]) spec.mem = a["mem"].as<double>();
          if (a["disk"]) spec.disk = a["disk"].as<double>();
          if (a["gpus"]) spec.gpus = a["gpus"].as<double>();
          if (a["ports"]) {
            spec.ports = a["ports"].as<std::string>();
            if (!parse_ranges(spec.ports)) return Status::InvalidArgument(where(path, a["ports"]) + ": bad port ranges");
          }
          spec.attributes = string_map(a["attributes"]);
          if (const auto reserved = a["reserved"]) {
            for (const auto& role : reserved) {
              for (const auto& amount : role.second) {
                spec.reserved[role.first.as<std::string>()][amount.first.as<std::string>()] = amount.second.as<double>();
              }
            }
          }
          base.agent_specs.push_back(std::move(spec));
        }
      }
    }
    if (const auto rules = root["behaviours"]) {
      for (const auto& r : rules) {
        if (Status s = check_keys(path, r, {"match", "labels"}); !s.ok()) return s;
        BehaviourRule rule;
        rule.match = string_map(r["match"]);
        rule.labels = string_map(r["labels"]);
        base.behaviours.push_back(std::move(rule));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                   ": " + e.msg);
  }
  return base;
}

}  // namespace berth::sim::mesos
