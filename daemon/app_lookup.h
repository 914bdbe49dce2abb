#pragma once
// Which application a request names, for the gRPC service and the status API alike
// (core/app_key.h: application ids are scoped by tenant).
//
// On the engine's strand (it reads the engine).

#include <string>

#include "core/engine.h"
#include "daemon/auth.h"

namespace berth {

// The key of `tenant`'s application `name`, registered or not. An application registered before
// ids were scoped by tenant keeps its plain key, and is found under it.
AppId tenant_app_key(const Engine& engine, const TenantName& default_tenant, const TenantName& tenant,
                     const std::string& name);

// The key of the application `app_id` names for `caller`. A driver names its tenant's
// applications by their ids, so its ids never meet another tenant's; an operator, or anyone when
// no tokens are configured, names the default tenant's applications by their ids and another
// tenant's by their keys, "<tenant>.<id>" (Application.key); a driver may use its own keys too.
AppId resolve_app(const Engine& engine, const TenantName& default_tenant, const Caller& caller,
                  const std::string& app_id);

// The application `app_id` names for `caller`, if the caller may see it; another tenant's
// application is reported exactly like a missing one (kNotFound naming `app_id`).
StatusOr<const Application*> visible_app(const Engine& engine, const TenantName& default_tenant,
                                         const Caller& caller, const std::string& app_id);

}  // namespace berth
