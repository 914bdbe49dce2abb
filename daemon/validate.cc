#include "daemon/validate.h"

#include <cmath>
#include <set>
#include <string>

namespace berth {
namespace {

using L = RequestLimits;

Status invalid(const std::string& field, const std::string& message) {
  return Status::InvalidArgument(field + ": " + message);
}

std::string at(const std::string& field, int index) { return field + "[" + std::to_string(index) + "]"; }
std::string at(const std::string& field, const std::string& key) { return field + "[\"" + key + "\"]"; }

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// DNS-label-like names: [a-z0-9]([-a-z0-9]*[a-z0-9])?
Status validate_name(const std::string& value, const std::string& field, std::size_t max_length) {
  if (value.empty()) return invalid(field, "is required");
  if (value.size() > max_length) {
    return invalid(field, "is longer than " + std::to_string(max_length) + " characters");
  }
  for (char c : value) {
    if (!is_lower_alnum(c) && c != '-') {
      return invalid(field, "may contain only lower-case letters, digits and '-'");
    }
  }
  if (!is_lower_alnum(value.front()) || !is_lower_alnum(value.back())) {
    return invalid(field, "must start and end with a lower-case letter or digit");
  }
  return Status::Ok();
}

// Tenant names as the configuration allows them: [A-Za-z0-9._-], at most 63.
Status validate_tenant(const std::string& value) {
  if (value.size() > 63) return invalid("tenant", "is longer than 63 characters");
  for (char c : value) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return invalid("tenant", "may contain only letters, digits, '-', '_' and '.'");
    }
  }
  return Status::Ok();
}

Status check_range(std::int64_t value, std::int64_t min, std::int64_t max, const std::string& field) {
  if (value < min || value > max) {
    return invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                              ", got " + std::to_string(value));
  }
  return Status::Ok();
}

Status check_length(const std::string& value, std::size_t max, const std::string& field) {
  if (value.size() > max) return invalid(field, "is longer than " + std::to_string(max) + " bytes");
  if (value.find('\0') != std::string::npos) return invalid(field, "contains a NUL byte");
  return Status::Ok();
}

bool is_env_name(const std::string& key) {
  if (key.empty() || key.size() > 256) return false;
  if (std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// Kubernetes label keys: optional DNS prefix and '/', then a name of [A-Za-z0-9-_.] up to 63.
bool is_label_key(const std::string& key) {
  if (key.empty() || key.size() > 253) return false;
  auto slash = key.rfind('/');
  std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  if (name.empty() || name.size() > 63) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(name.front())) &&
         std::isalnum(static_cast<unsigned char>(name.back()));
}

bool is_label_value(const std::string& value) {
  if (value.size() > 63) return false;
  if (value.empty()) return true;
  for (char c : value) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return std::isalnum(static_cast<unsigned char>(value.front())) &&
         std::isalnum(static_cast<unsigned char>(value.back()));
}

#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    Status status_ = (expr);           \
    if (!status_.ok()) return status_; \
  } while (false)

Status validate_profile(const v1::ResourceProfile& p, const std::string& field) {
  RETURN_IF_ERROR(check_range(p.id(), 0, 1'000'000, field + ".id"));
  RETURN_IF_ERROR(check_range(p.cores(), 1, L::kMaxCores, field + ".cores"));
  RETURN_IF_ERROR(check_range(p.heap_mib(), 1, L::kMaxMib, field + ".heap_mib"));
  RETURN_IF_ERROR(check_range(p.overhead_mib(), 0, L::kMaxMib, field + ".overhead_mib"));
  if (!std::isfinite(p.overhead_factor()) || p.overhead_factor() < 0 || p.overhead_factor() > 10) {
    return invalid(field + ".overhead_factor", "must be between 0 and 10");
  }
  RETURN_IF_ERROR(check_range(p.offheap_mib(), 0, L::kMaxMib, field + ".offheap_mib"));
  RETURN_IF_ERROR(check_range(p.pyspark_mib(), 0, L::kMaxMib, field + ".pyspark_mib"));
  if (p.resources_size() > L::kMaxResources) {
    return invalid(field + ".resources", "at most " + std::to_string(L::kMaxResources) + " entries");
  }
  std::set<std::string> names;
  for (int i = 0; i < p.resources_size(); ++i) {
    const auto& r = p.resources(i);
    const std::string rf = at(field + ".resources", i);
    RETURN_IF_ERROR(validate_name(r.name(), rf + ".name", 63));
    if (!names.insert(r.name()).second) return invalid(rf + ".name", "duplicate resource " + r.name());
    if (!r.vendor().empty() && !is_label_key(r.vendor())) {
      return invalid(rf + ".vendor", "must be a domain such as nvidia.com");
    }
    RETURN_IF_ERROR(check_range(r.amount(), 1, 1024, rf + ".amount"));
  }
  return Status::Ok();
}

Status validate_string_map(const google::protobuf::Map<std::string, std::string>& map,
                           const std::string& field, int max_entries, std::size_t max_value,
                           bool (*key_ok)(const std::string&), const char* key_rule) {
  if (map.size() > static_cast<std::size_t>(max_entries)) {
    return invalid(field, "at most " + std::to_string(max_entries) + " entries");
  }
  for (const auto& [key, value] : map) {
    if (!key_ok(key)) return invalid(at(field, key), key_rule);
    RETURN_IF_ERROR(check_length(value, max_value, at(field, key)));
  }
  return Status::Ok();
}

Status validate_launch(const v1::LaunchSpec& launch) {
  RETURN_IF_ERROR(check_length(launch.image(), 512, "launch.image"));
  if (launch.command_size() > L::kMaxCommandParts) return invalid("launch.command", "too many entries");
  if (launch.args_size() > L::kMaxCommandParts) return invalid("launch.args", "too many entries");
  for (int i = 0; i < launch.command_size(); ++i) {
    RETURN_IF_ERROR(check_length(launch.command(i), L::kMaxArgLength, at("launch.command", i)));
  }
  for (int i = 0; i < launch.args_size(); ++i) {
    RETURN_IF_ERROR(check_length(launch.args(i), L::kMaxArgLength, at("launch.args", i)));
  }
  RETURN_IF_ERROR(validate_string_map(launch.env(), "launch.env", L::kMaxEnv, L::kMaxEnvValue, is_env_name,
                                      "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"));
  RETURN_IF_ERROR(validate_string_map(launch.labels(), "launch.labels", L::kMaxLabels, 63, is_label_key,
                                      "must be a label key (prefix/name)"));
  for (const auto& [key, value] : launch.labels()) {
    if (!is_label_value(value)) {
      return invalid(at("launch.labels", key), "must be a label value ([A-Za-z0-9._-], at most 63)");
    }
  }
  RETURN_IF_ERROR(validate_string_map(launch.annotations(), "launch.annotations", L::kMaxLabels,
                                      L::kMaxAnnotationValue, is_label_key,
                                      "must be an annotation key (prefix/name)"));
  if (const std::size_t bytes = launch.ByteSizeLong(); bytes > L::kMaxLaunchSpecBytes) {
    return invalid("launch", std::to_string(bytes) + " bytes in all; at most " +
                                 std::to_string(L::kMaxLaunchSpecBytes / 1024) +
                                 " KiB (put large files in the image or a backend secret, not the launch spec)");
  }
  return Status::Ok();
}

Status validate_executor_ids(const google::protobuf::RepeatedField<std::int64_t>& ids) {
  if (ids.empty()) return invalid("executor_ids", "is required");
  if (ids.size() > L::kMaxExecutorIdsPerCall) {
    return invalid("executor_ids", "at most " + std::to_string(L::kMaxExecutorIdsPerCall) + " per call");
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (ids.Get(i) <= 0) return invalid(at("executor_ids", i), "must be a positive executor id");
  }
  return Status::Ok();
}

}  // namespace

Status validate_app_id(const std::string& value, const char* field) {
  return validate_name(value, field, L::kMaxIdLength);
}

Status validate_app_ref(const std::string& value, const char* field) {
  const auto dot = value.rfind('.');
  if (dot == std::string::npos) return validate_app_id(value, field);
  const std::string tenant = value.substr(0, dot);
  if (tenant.empty() || !validate_tenant(tenant).ok()) {
    return invalid(field, "is an application id, or <tenant>.<application id>; \"" + tenant + "\" is not a tenant name");
  }
  return validate_app_id(value.substr(dot + 1), field);
}

Status validate(const v1::RegisterApplicationRequest& request) {
  RETURN_IF_ERROR(validate_app_id(request.app_id()));
  if (!request.tenant().empty()) RETURN_IF_ERROR(validate_tenant(request.tenant()));
  if (request.pools_size() > L::kMaxPools) return invalid("pools", "at most 16 entries");
  std::set<std::string> pools;
  for (int i = 0; i < request.pools_size(); ++i) {
    RETURN_IF_ERROR(validate_name(request.pools(i), at("pools", i), 63));
    if (!pools.insert(request.pools(i)).second) return invalid(at("pools", i), "duplicate pool");
  }
  if (request.profiles_size() > L::kMaxProfiles) return invalid("profiles", "at most 32 entries");
  std::set<std::int32_t> ids;
  for (int i = 0; i < request.profiles_size(); ++i) {
    RETURN_IF_ERROR(validate_profile(request.profiles(i), at("profiles", i)));
    if (!ids.insert(request.profiles(i).id()).second) {
      return invalid(at("profiles", i) + ".id", "duplicate profile id " + std::to_string(request.profiles(i).id()));
    }
  }
  RETURN_IF_ERROR(validate_launch(request.launch()));
  RETURN_IF_ERROR(check_length(request.driver().url(), 1024, "driver.url"));
  if (request.driver().has_pod()) {
    const auto& pod = request.driver().pod();
    RETURN_IF_ERROR(validate_name(pod.name(), "driver.pod.name", 253));
    if (!pod.namespace_().empty()) RETURN_IF_ERROR(validate_name(pod.namespace_(), "driver.pod.namespace", 63));
    RETURN_IF_ERROR(check_length(pod.uid(), 64, "driver.pod.uid"));
  }
  RETURN_IF_ERROR(check_range(request.lease_ttl_seconds(), 0, L::kMaxLeaseSeconds, "lease_ttl_seconds"));
  return Status::Ok();
}

Status validate(const v1::RequestTotalExecutorsRequest& request) {
  RETURN_IF_ERROR(validate_app_ref(request.app_id()));
  if (request.totals().empty()) return invalid("totals", "is required (profile id -> total)");
  if (request.totals().size() > static_cast<std::size_t>(L::kMaxProfiles)) return invalid("totals", "at most 32 entries");
  for (const auto& [profile, total] : request.totals()) {
    RETURN_IF_ERROR(check_range(total, 0, L::kMaxTotal, "totals[" + std::to_string(profile) + "]"));
  }
  if (request.locality().size() > static_cast<std::size_t>(L::kMaxProfiles)) return invalid("locality", "at most 32 entries");
  for (const auto& [profile, hosts] : request.locality()) {
    const std::string field = "locality[" + std::to_string(profile) + "]";
    if (hosts.tasks_per_host().size() > static_cast<std::size_t>(L::kMaxLocalityHosts)) {
      return invalid(field, "at most 10000 hosts");
    }
    for (const auto& [host, tasks] : hosts.tasks_per_host()) {
      RETURN_IF_ERROR(check_length(host, 253, field + ".tasks_per_host"));
      RETURN_IF_ERROR(check_range(tasks, 0, 10'000'000, field + ".tasks_per_host[\"" + host + "\"]"));
    }
  }
  return Status::Ok();
}

Status validate(const v1::KillExecutorsRequest& request) {
  RETURN_IF_ERROR(validate_app_ref(request.app_id()));
  return validate_executor_ids(request.executor_ids());
}

Status validate(const v1::DecommissionExecutorsRequest& request) {
  RETURN_IF_ERROR(validate_app_ref(request.app_id()));
  RETURN_IF_ERROR(validate_executor_ids(request.executor_ids()));
  return check_range(request.grace_seconds(), 0, L::kMaxGraceSeconds, "grace_seconds");
}

Status validate(const v1::GetApplicationRequest& request) { return validate_app_ref(request.app_id()); }

Status validate(const v1::ListExecutorsRequest& request) {
  RETURN_IF_ERROR(validate_app_ref(request.app_id()));
  for (int i = 0; i < request.states_size(); ++i) {
    const int state = request.states(i);
    if (state <= v1::EXECUTOR_STATE_UNSPECIFIED || state > v1::CANCELLED) {
      return invalid(at("states", i), "unknown executor state " + std::to_string(state));
    }
  }
  return Status::Ok();
}

Status validate(const v1::WatchEventsRequest& request) {
  if (!request.app_id().empty()) return validate_app_ref(request.app_id());
  return Status::Ok();
}

Status validate(const v1::KeepAliveRequest& request) { return validate_app_ref(request.app_id()); }

Status validate(const v1::UnregisterApplicationRequest& request) {
  RETURN_IF_ERROR(validate_app_ref(request.app_id()));
  return check_length(request.reason(), 1024, "reason");
}

}  // namespace berth
