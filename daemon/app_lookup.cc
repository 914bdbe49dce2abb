#include "daemon/app_lookup.h"

#include "core/app_key.h"

namespace berth {

AppId tenant_app_key(const Engine& engine, const TenantName& default_tenant, const TenantName& tenant,
                     const std::string& name) {
  const AppId key = app_key(tenant, name, default_tenant);
  if (key != name && engine.find_app(key) == nullptr) {
    const Application* earlier = engine.find_app(name);
    if (earlier != nullptr && earlier->spec.tenant == tenant) return name;
  }
  return key;
}

AppId resolve_app(const Engine& engine, const TenantName& default_tenant, const Caller& caller,
                  const std::string& app_id) {
  if (caller.is_operator || caller.anonymous) return app_id;
  // A driver may name its own application by its key as well.
  const auto dot = app_id.rfind('.');
  if (dot != std::string::npos && app_id.compare(0, dot, caller.tenant) == 0 && dot == caller.tenant.size()) {
    return app_id;
  }
  return tenant_app_key(engine, default_tenant, caller.tenant, app_id);
}

StatusOr<const Application*> visible_app(const Engine& engine, const TenantName& default_tenant,
                                         const Caller& caller, const std::string& app_id) {
  const Application* app = engine.find_app(resolve_app(engine, default_tenant, caller, app_id));
  if (app == nullptr || !caller.may_access(app->spec.tenant)) {
    return Status::NotFound("application " + app_id + " is not registered");
  }
  return app;
}

}  // namespace berth
