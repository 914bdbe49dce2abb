#include "sim/kubernetes/rbac.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

namespace berth::sim::kubernetes {
namespace {

std::vector<std::string> strings_at(const YAML::Node& node, const char* key) {
  std::vector<std::string> out;
  const YAML::Node list = node[key];
  if (!list || !list.IsSequence()) return out;
  for (const auto& item : list) out.push_back(item.as<std::string>());
  return out;
}

std::string string_at(const YAML::Node& node, const char* key, const std::string& fallback = {}) {
  const YAML::Node value = node[key];
  return value && value.IsScalar() ? value.as<std::string>() : fallback;
}

bool has(const std::vector<std::string>& values, const std::string& wanted) {
  return std::find(values.begin(), values.end(), wanted) != values.end() ||
         std::find(values.begin(), values.end(), "*") != values.end();
}

// k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go: ResourceMatches, with subresources.
bool resource_matches(const RbacRule& rule, const std::string& resource, const std::string& subresource) {
  const std::string combined = subresource.empty() ? resource : resource + "/" + subresource;
  for (const auto& granted : rule.resources) {
    if (granted == "*" || granted == combined) return true;
    if (!subresource.empty() && granted == "*/" + subresource) return true;
  }
  return false;
}

}  // namespace

StatusOr<RbacRole> parse_rbac_role(const std::string& text, const std::string& origin) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(origin + ": " + e.what());
  }
  std::optional<RbacRole> role;
  for (std::size_t i = 0; i < documents.size() && !role; ++i) {
    const YAML::Node& document = documents[i];
    if (!document.IsMap() || string_at(document, "kind") != "Role") continue;
    const std::string where = origin + ": document " + std::to_string(i + 1) + " (Role)";
    RbacRole found;
    found.name = string_at(document["metadata"], "name");
    found.namespace_name = string_at(document["metadata"], "namespace", "default");
    if (found.name.empty()) return Status::InvalidArgument(where + ": metadata.name is missing");
    const YAML::Node rules = document["rules"];
    if (rules && !rules.IsSequence()) return Status::InvalidArgument(where + ": rules must be a list");
    try {
      for (const auto& rule : rules) {
        found.rules.push_back(RbacRule{strings_at(rule, "apiGroups"), strings_at(rule, "resources"),
                                       strings_at(rule, "verbs"), strings_at(rule, "resourceNames")});
      }
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(where + ": rules: " + e.what());
    }
    role = std::move(found);
  }
  if (!role) return Status::InvalidArgument(origin + ": no document of kind Role");
  for (const auto& document : documents) {
    if (!document.IsMap() || string_at(document, "kind") != "RoleBinding") continue;
    const YAML::Node ref = document["roleRef"];
    if (!ref || string_at(ref, "kind") != "Role" || string_at(ref, "name") != role->name) continue;
    const std::string binding_namespace = string_at(document["metadata"], "namespace", "default");
    if (binding_namespace != role->namespace_name) continue;  // a RoleBinding refers to a Role of its namespace
    const YAML::Node subjects = document["subjects"];
    if (!subjects || !subjects.IsSequence()) continue;
    for (const auto& subject : subjects) {
      const std::string kind = string_at(subject, "kind");
      const std::string name = string_at(subject, "name");
      if (kind == "ServiceAccount") {
        role->subjects.push_back("system:serviceaccount:" + string_at(subject, "namespace", binding_namespace) + ":" + name);
      } else if (kind == "User") {
        role->subjects.push_back(name);
      }
    }
  }
  return *role;
}

StatusOr<RbacRole> load_rbac_role(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(path + ": cannot read the RBAC file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_rbac_role(text.str(), path);
}

bool rbac_allows(const RbacRole& role, const RequestAttributes& request) {
  if (!role.subjects.empty() &&
      std::find(role.subjects.begin(), role.subjects.end(), request.user) == role.subjects.end()) {
    return false;
  }
  if (request.namespace_name.empty() || request.namespace_name != role.namespace_name) return false;
  for (const RbacRule& rule : role.rules) {
    if (!has(rule.verbs, request.verb) || !has(rule.api_groups, request.api_group)) continue;
    if (!resource_matches(rule, request.resource, request.subresource)) continue;
    if (!rule.resource_names.empty() &&
        std::find(rule.resource_names.begin(), rule.resource_names.end(), request.name) == rule.resource_names.end()) {
      continue;
    }
    return true;
  }
  return false;
}

std::string forbidden_message(const RequestAttributes& request) {
  // k8s.io/apiserver responsewriters.forbiddenMessage, wrapped by apierrors.NewForbidden.
  const std::string resource = request.subresource.empty() ? request.resource : request.resource + "/" + request.subresource;
  std::string reason = "User \"" + request.user + "\" cannot " + request.verb + " resource \"" + resource +
                       "\" in API group \"" + request.api_group + "\"";
  reason += request.namespace_name.empty() ? " at the cluster scope" : " in the namespace \"" + request.namespace_name + "\"";
  const std::string qualified = request.api_group.empty() ? request.resource : request.resource + "." + request.api_group;
  const std::string object = request.name.empty() ? qualified : qualified + " \"" + request.name + "\"";
  return object + " is forbidden: " + reason;
}

}  // namespace berth::sim::kubernetes
