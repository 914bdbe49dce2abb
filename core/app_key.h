#pragma once
// Application ids are scoped by tenant: a driver names its application (Spark's spark.app.id)
// and two tenants may each run one named "etl" without either learning of the other. Berth keys
// an application by its tenant and name together:
//
//   the default tenant's application "etl"   key "etl"
//   tenant team-b's application "etl"        key "team-b.etl"
//
// Names never contain '.' (lower-case letters, digits and '-'), so a key's name is what follows
// its last '.', whatever the tenant's name holds. Keys name applications everywhere inside Berth
// (the store, backend object names, logs, metrics); drivers only ever see their names, and Spark
// (SPARK_APPLICATION_ID, --app-id, spark-app-selector) gets the name too.

#include <string>
#include <string_view>

#include "core/types.h"

namespace berth {

inline AppId app_key(const TenantName& tenant, std::string_view name, const TenantName& default_tenant) {
  if (tenant.empty() || tenant == default_tenant) return AppId(name);
  return tenant + "." + std::string(name);
}

// The name the driver gave the application keyed `key`.
inline std::string_view app_name(std::string_view key) {
  const auto dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

}  // namespace berth
