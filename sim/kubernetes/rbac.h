#pragma once
// RBAC for the simulator: one namespaced Role (and the RoleBinding that names it, when given),
// applied to resource requests as the API server's RBAC authorizer applies them, and the 403
// Forbidden a refused request gets. Pure; thread-safe.

#include <string>
#include <vector>

#include "base/status.h"

namespace berth::sim::kubernetes {

struct RbacRule {
  std::vector<std::string> api_groups;      // "" is the core group; "*" any
  std::vector<std::string> resources;       // "pods", "pods/log", "*"
  std::vector<std::string> verbs;           // "get", "list", ..., "*"
  std::vector<std::string> resource_names;  // empty: any object
};

struct RbacRole {
  std::string name;
  std::string namespace_name = "default";  // a Role grants nothing outside its namespace
  std::vector<RbacRule> rules;
  // Users a RoleBinding of this Role binds (ServiceAccount subjects as
  // "system:serviceaccount:<ns>:<name>"; Group subjects are not modelled). Empty when the file
  // held no RoleBinding: the Role then applies to every user.
  std::vector<std::string> subjects;
};

// What the authorizer decides on (k8s.io/apiserver's authorizer.Attributes for a resource request).
struct RequestAttributes {
  std::string user;
  std::string verb;            // get, list, watch, create, update, patch, delete, deletecollection
  std::string api_group;       // "" for the core group
  std::string resource;        // "pods", "namespaces"
  std::string subresource;     // "log", "eviction", "status" or ""
  std::string namespace_name;  // "" at the cluster scope
  std::string name;            // the object, or "" for collections
};

// Reads a YAML or JSON file of one or more documents (the `---`-separated output of
// `kubectl create role ... -o yaml`, or a deploy manifest) and takes its first Role, with the
// subjects of the RoleBindings whose roleRef names it. Errors name the file and the document.
StatusOr<RbacRole> load_rbac_role(const std::string& path);
StatusOr<RbacRole> parse_rbac_role(const std::string& text, const std::string& origin);

bool rbac_allows(const RbacRole& role, const RequestAttributes& request);

// The API server's message for a refused request, e.g.
// `pods "x" is forbidden: User "u" cannot delete resource "pods" in API group "" in the namespace "ns"`.
std::string forbidden_message(const RequestAttributes& request);

}  // namespace berth::sim::kubernetes
