// berth-sim nomad --config FILE: YAML over the command-line defaults.

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
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

Status unknown_keys(const std::string& path, const YAML::Node& map, const std::vector<std::string>& known) {
  for (const auto& entry : map) {
    const auto key = entry.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
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
  if (Status s = unknown_keys(path, root,
                              {"listen", "acl_token", "time_scale", "seed", "region", "namespaces", "event_buffer_size",
                               "heartbeat_interval", "max_conns_per_client", "tls", "nodes", "behaviours", "gc_interval",
                               "job_gc_threshold", "eval_gc_threshold"});
      !s.ok()) {
    return s;
  }
  try {
    if (root["listen"]) base.listen = root["listen"].as<std::string>();
    if (root["acl_token"]) base.acl_token = root["acl_token"].as<std::string>();
    if (root["region"]) base.region = root["region"].as<std::string>();
    if (root["seed"]) base.seed = root["seed"].as<std::uint64_t>();
    if (root["time_scale"]) {
      base.time_scale = root["time_scale"].as<double>();
      if (base.time_scale <= 0) return Status::InvalidArgument(where(path, root["time_scale"]) + ": time_scale must be > 0");
    }
    if (root["event_buffer_size"]) base.event_buffer_size = root["event_buffer_size"].as<std::size_t>();
    if (root["max_conns_per_client"]) base.max_conns_per_client = root["max_conns_per_client"].as<std::size_t>();
    for (auto [key, field] : {std::pair{"heartbeat_interval", &base.heartbeat_interval},
                              std::pair{"gc_interval", &base.gc_interval},
                              std::pair{"job_gc_threshold", &base.job_gc_threshold},
                              std::pair{"eval_gc_threshold", &base.eval_gc_threshold}}) {
      if (!root[key]) continue;
      auto ns = parse_go_duration(root[key].as<std::string>());
      if (!ns || *ns <= 0) return Status::InvalidArgument(where(path, root[key]) + ": bad duration");
      *field = std::chrono::milliseconds(*ns / 1'000'000);
    }
    if (const auto namespaces = root["namespaces"]) {
      for (const auto& ns : namespaces) base.namespaces.push_back(ns.as<std::string>());
    }
    if (const auto tls = root["tls"]) {
      if (tls["cert"]) base.tls_cert_file = tls["cert"].as<std::string>();
      if (tls["key"]) base.tls_key_file = tls["key"].as<std::string>();
      if (tls["client_ca"]) base.client_ca_file = tls["client_ca"].as<std::string>();
    }
    if (const auto nodes = root["nodes"]) {
      base.nodes.clear();
      for (const auto& n : nodes) {
        if (Status s = unknown_keys(path, n, {"name", "datacenter", "node_pool", "node_class", "cpu_mhz", "memory_mb",
                                              "cores", "devices", "attributes", "meta"});
            !s.ok()) {
          return s;
        }
        NodeSpec spec;
        if (!n["name"]) return Status::InvalidArgument(where(path, n) + ": node needs a name");
        spec.name = n["name"].as<std::string>();
        if (n["datacenter"]) spec.datacenter = n["datacenter"].as<std::string>();
        if (n["node_pool"]) spec.node_pool = n["node_pool"].as<std::string>();
        if (n["node_class"]) spec.node_class = n["node_class"].as<std::string>();
        if (n["cpu_mhz"]) spec.cpu_mhz = n["cpu_mhz"].as<std::int64_t>();
        if (n["memory_mb"]) spec.memory_mb = n["memory_mb"].as<std::int64_t>();
        if (n["cores"]) spec.cores = n["cores"].as<int>();
        if (const auto devices = n["devices"]) {
          for (const auto& d : devices) {
            DeviceSpec device;
            if (d["vendor"]) device.vendor = d["vendor"].as<std::string>();
            if (d["type"]) device.type = d["type"].as<std::string>();
            if (d["model"]) device.model = d["model"].as<std::string>();
            if (d["count"]) device.count = d["count"].as<int>();
            spec.devices.push_back(std::move(device));
          }
        }
        spec.attributes = string_map(n["attributes"]);
        spec.meta = string_map(n["meta"]);
        base.nodes.push_back(std::move(spec));
      }
    }
    if (const auto rules = root["behaviours"]) {
      for (const auto& r : rules) {
        BehaviourRule rule;
        rule.job_prefix = r["job_prefix"] ? r["job_prefix"].as<std::string>() : "";
        rule.meta = string_map(r["meta"]);
        base.behaviours.push_back(std::move(rule));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                   ": " + e.msg);
  }
  return base;
}

}  // namespace berth::sim::nomad
