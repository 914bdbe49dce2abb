#include "adapters/mesos/offers.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <deque>

namespace berth::mesos {
namespace {

namespace json = boost::json;

// Mesos keeps scalars to three decimal places.
constexpr double kEpsilon = 0.0005;

std::string string_field(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

std::string id_value(const json::object& object, const char* key) {
  const auto* id = object.if_contains(key);
  return id != nullptr && id->is_object() ? string_field(id->as_object(), "value") : "";
}

double number(const json::value& value) {
  if (value.is_double()) return value.as_double();
  if (value.is_int64()) return static_cast<double>(value.as_int64());
  if (value.is_uint64()) return static_cast<double>(value.as_uint64());
  if (value.is_string()) return std::strtod(std::string(value.as_string()).c_str(), nullptr);
  return 0;
}

double scalar_of(const json::object& resource) {
  const auto* scalar = resource.if_contains("scalar");
  if (scalar == nullptr || !scalar->is_object()) return 0;
  const auto* value = scalar->as_object().if_contains("value");
  return value != nullptr ? number(*value) : 0;
}

// Entries Berth may use for plain executors: scalars that are neither revocable nor persistent
// volumes, nor shared.
bool usable_scalar(const json::object& resource, const std::string& name) {
  if (string_field(resource, "name") != name || string_field(resource, "type") != "SCALAR") return false;
  if (resource.contains("revocable") || resource.contains("shared")) return false;
  if (const auto* disk = resource.if_contains("disk"); disk != nullptr && disk->is_object() &&
                                                        disk->as_object().contains("persistence")) {
    return false;
  }
  return true;
}

bool matches_value(const json::object& attribute, const std::string& wanted) {
  const std::string type = string_field(attribute, "type");
  if (type == "TEXT") {
    const auto* text = attribute.if_contains("text");
    return text != nullptr && text->is_object() && string_field(text->as_object(), "value") == wanted;
  }
  if (type == "SCALAR") {
    char* end = nullptr;
    const double value = std::strtod(wanted.c_str(), &end);
    return end != wanted.c_str() && std::fabs(scalar_of(attribute) - value) < kEpsilon;
  }
  if (type == "RANGES") {
    char* end = nullptr;
    const double value = std::strtod(wanted.c_str(), &end);
    if (end == wanted.c_str()) return false;
    const auto* ranges = attribute.if_contains("ranges");
    const auto* range = ranges != nullptr && ranges->is_object() ? ranges->as_object().if_contains("range") : nullptr;
    if (range == nullptr || !range->is_array()) return false;
    for (const auto& item : range->as_array()) {
      if (!item.is_object()) continue;
      const auto& r = item.as_object();
      const auto* begin = r.if_contains("begin");
      const auto* end_value = r.if_contains("end");
      if (begin != nullptr && end_value != nullptr && value >= number(*begin) && value <= number(*end_value)) return true;
    }
    return false;
  }
  if (type == "SET") {
    const auto* set = attribute.if_contains("set");
    const auto* items = set != nullptr && set->is_object() ? set->as_object().if_contains("item") : nullptr;
    if (items == nullptr || !items->is_array()) return false;
    for (const auto& item : items->as_array()) {
      if (item.is_string() && item.as_string() == wanted) return true;
    }
  }
  return false;
}

// Reserved (statically or dynamically): a `role` other than "*" (without RESERVATION_REFINEMENT),
// or a non-empty `reservations` stack (with it).
bool reserved(const json::object& resource) {
  if (const auto* reservations = resource.if_contains("reservations");
      reservations != nullptr && reservations->is_array() && !reservations->as_array().empty()) {
    return true;
  }
  const std::string role = string_field(resource, "role");
  return !role.empty() && role != "*";
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Port ranges Berth may use: "ports" RANGES entries that are not revocable or shared.
bool usable_ranges(const json::object& resource) {
  return string_field(resource, "name") == "ports" && string_field(resource, "type") == "RANGES" &&
         !resource.contains("revocable") && !resource.contains("shared");
}

json::array* ranges_of(json::object& resource) {
  auto* ranges = resource.if_contains("ranges");
  auto* range = ranges != nullptr && ranges->is_object() ? ranges->as_object().if_contains("range") : nullptr;
  return range != nullptr && range->is_array() ? &range->as_array() : nullptr;
}

}  // namespace

Offer parse_offer(const json::object& object) {
  Offer offer;
  offer.id = id_value(object, "id");
  offer.agent_id = id_value(object, "agent_id");
  offer.hostname = string_field(object, "hostname");
  if (const auto* resources = object.if_contains("resources"); resources != nullptr && resources->is_array()) {
    offer.resources = resources->as_array();
  }
  if (const auto* attributes = object.if_contains("attributes"); attributes != nullptr && attributes->is_array()) {
    for (const auto& item : attributes->as_array()) {
      if (item.is_object()) offer.attributes[string_field(item.as_object(), "name")] = item.as_object();
    }
  }
  for (const auto& item : offer.resources) {
    if (item.is_object() && string_field(item.as_object(), "name") == "gpus" && scalar_of(item.as_object()) > kEpsilon) {
      offer.gpu_agent = true;
    }
  }
  return offer;
}

StatusOr<std::vector<Constraint>> parse_constraints(const std::string& text) {
  std::vector<Constraint> constraints;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    const std::string part = trim(text.substr(start, end - start));
    start = end + 1;
    if (part.empty()) continue;
    Constraint constraint;
    const std::size_t colon = part.find(':');
    constraint.attribute = trim(part.substr(0, colon));
    if (constraint.attribute.empty()) return Status::InvalidArgument("constraint \"" + part + "\" names no attribute");
    if (colon != std::string::npos) {
      std::size_t value_start = colon + 1;
      while (value_start <= part.size()) {
        const std::size_t value_end = std::min(part.find(',', value_start), part.size());
        std::string value = trim(part.substr(value_start, value_end - value_start));
        value_start = value_end + 1;
        if (!value.empty()) constraint.values.push_back(std::move(value));
      }
      if (constraint.values.empty()) {
        return Status::InvalidArgument("constraint \"" + part + "\" has a ':' but no values");
      }
    }
    constraints.push_back(std::move(constraint));
  }
  return constraints;
}

bool satisfies(const Offer& offer, const std::vector<Constraint>& constraints) {
  for (const auto& constraint : constraints) {
    auto it = offer.attributes.find(constraint.attribute);
    if (it == offer.attributes.end()) return false;
    if (constraint.values.empty()) continue;
    const bool any = std::any_of(constraint.values.begin(), constraint.values.end(),
                                 [&](const std::string& value) { return matches_value(it->second, value); });
    if (!any) return false;
  }
  return true;
}

TaskDemand demand_of(const ResourceProfile& profile, int ports) {
  TaskDemand demand;
  demand.ports = ports;
  demand.cpus = profile.cores;
  demand.mem = static_cast<double>(profile.container_memory_mib());
  for (const auto& resource : profile.resources) {
    if (resource.name == "gpu" || resource.name == "gpus") demand.gpus += static_cast<double>(resource.amount);
  }
  return demand;
}

OfferResources::OfferResources(const json::array& offered) : remaining_(offered) {}

double OfferResources::available(const std::string& name) const {
  double total = 0;
  for (const auto& item : remaining_) {
    if (item.is_object() && usable_scalar(item.as_object(), name)) total += scalar_of(item.as_object());
  }
  return total;
}

std::size_t OfferResources::available_ports() const {
  std::size_t total = 0;
  for (const auto& item : remaining_) {
    if (!item.is_object() || !usable_ranges(item.as_object())) continue;
    json::object copy = item.as_object();
    if (json::array* ranges = ranges_of(copy)) {
      for (const auto& r : *ranges) {
        if (!r.is_object()) continue;
        const auto begin = static_cast<std::uint64_t>(number(r.at("begin")));
        const auto end = static_cast<std::uint64_t>(number(r.at("end")));
        if (end >= begin) total += end - begin + 1;
      }
    }
  }
  return total;
}

std::vector<std::uint64_t> ports_of(const json::array& resources) {
  std::vector<std::uint64_t> ports;
  for (const auto& item : resources) {
    if (!item.is_object() || !usable_ranges(item.as_object())) continue;
    json::object copy = item.as_object();
    if (json::array* ranges = ranges_of(copy)) {
      for (const auto& r : *ranges) {
        if (!r.is_object()) continue;
        const auto begin = static_cast<std::uint64_t>(number(r.at("begin")));
        const auto end = static_cast<std::uint64_t>(number(r.at("end")));
        for (auto port = begin; port <= end && ports.size() < 65536; ++port) ports.push_back(port);
      }
    }
  }
  return ports;
}

std::optional<json::array> OfferResources::take(const TaskDemand& demand) {
  const std::vector<std::pair<std::string, double>> wanted = {
      {"cpus", demand.cpus}, {"mem", demand.mem}, {"gpus", demand.gpus}, {"disk", demand.disk}};
  for (const auto& [name, amount] : wanted) {
    if (amount > 0 && available(name) + kEpsilon < amount) return std::nullopt;
  }
  if (demand.ports > 0 && available_ports() < static_cast<std::size_t>(demand.ports)) return std::nullopt;
  json::array taken;
  // Reserved entries first, then unreserved ones, each group in offer order.
  std::vector<std::size_t> order;
  order.reserve(remaining_.size());
  for (bool reserved_pass : {true, false}) {
    for (std::size_t i = 0; i < remaining_.size(); ++i) {
      if (remaining_[i].is_object() && reserved(remaining_[i].as_object()) == reserved_pass) order.push_back(i);
    }
  }
  // Ports: the lowest free ones, each piece keeping its entry's role and allocation_info.
  std::size_t ports_needed = demand.ports > 0 ? static_cast<std::size_t>(demand.ports) : 0;
  for (const std::size_t index : order) {
    json::value& item = remaining_[index];
    if (ports_needed == 0) break;
    if (!item.is_object() || !usable_ranges(item.as_object())) continue;
    json::array* ranges = ranges_of(item.as_object());
    if (ranges == nullptr) continue;
    json::array picked;
    json::array left;
    for (const auto& r : *ranges) {
      if (!r.is_object()) continue;
      auto begin = static_cast<std::uint64_t>(number(r.at("begin")));
      const auto end = static_cast<std::uint64_t>(number(r.at("end")));
      if (ports_needed > 0 && end >= begin) {
        const std::uint64_t count = std::min<std::uint64_t>(ports_needed, end - begin + 1);
        picked.push_back(json::object{{"begin", begin}, {"end", begin + count - 1}});
        ports_needed -= count;
        begin += count;
      }
      if (begin <= end) left.push_back(json::object{{"begin", begin}, {"end", end}});
    }
    if (picked.empty()) continue;
    json::object part = item.as_object();
    part["ranges"] = json::object{{"range", std::move(picked)}};
    taken.push_back(std::move(part));
    item.as_object()["ranges"] = json::object{{"range", std::move(left)}};
  }
  for (const auto& [name, amount] : wanted) {
    double need = amount;
    for (const std::size_t index : order) {
      json::value& item = remaining_[index];
      if (need <= kEpsilon) break;
      if (!item.is_object() || !usable_scalar(item.as_object(), name)) continue;
      json::object& entry = item.as_object();
      const double here = scalar_of(entry);
      if (here <= kEpsilon) continue;
      const double piece = std::min(here, need);
      json::object part = entry;  // role, reservations, allocation_info kept
      part["scalar"] = json::object{{"value", std::round(piece * 1000) / 1000}};
      taken.push_back(std::move(part));
      entry["scalar"] = json::object{{"value", std::round((here - piece) * 1000) / 1000}};
      need -= piece;
    }
  }
  return taken;
}

bool OfferResources::holds_reserved() const {
  for (const auto& item : remaining_) {
    if (!item.is_object() || !reserved(item.as_object())) continue;
    const json::object& entry = item.as_object();
    if (string_field(entry, "type") == "SCALAR" && scalar_of(entry) > kEpsilon) return true;
  }
  return false;
}

std::vector<Assignment> assign(const std::vector<PendingTask>& tasks, const std::vector<Offer>& offers,
                               const std::vector<bool>& usable) {
  std::vector<Assignment> assignments;
  if (offers.empty()) return assignments;
  std::vector<OfferResources> left;
  left.reserve(offers.size());
  for (const auto& offer : offers) left.emplace_back(offer.resources);

  // Each application's tasks in queue order; applications in order of their first task.
  std::vector<AppId> order;
  std::map<AppId, std::deque<std::size_t>> queues;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    auto [it, inserted] = queues.try_emplace(tasks[i].app);
    if (inserted) order.push_back(tasks[i].app);
    it->second.push_back(i);
  }
  std::size_t cursor = 0;  // the offer tried first next, so that tasks spread over agents
  bool placed_any = true;
  while (placed_any) {
    placed_any = false;
    for (const AppId& app : order) {
      auto& queue = queues[app];
      while (!queue.empty()) {
        const std::size_t task = queue.front();
        queue.pop_front();
        const TaskDemand& demand = tasks[task].demand;
        bool placed = false;
        // Offers holding reserved resources first: they are the framework's.
        for (const bool reserved_pass : {true, false}) {
          for (std::size_t k = 0; k < offers.size() && !placed; ++k) {
            const std::size_t offer = (cursor + k) % offers.size();
            if (offer < usable.size() && !usable[offer]) continue;
            if (demand.gpus <= 0 && offers[offer].gpu_agent) continue;  // kept for GPU executors
            if (left[offer].holds_reserved() != reserved_pass) continue;
            if (auto resources = left[offer].take(demand)) {
              assignments.push_back({task, offer, std::move(*resources)});
              cursor = (offer + 1) % offers.size();
              placed = true;
            }
          }
        }
        if (placed) {
          placed_any = true;
          break;  // the next application's turn
        }
        // Nothing fits this task; the application's next task may be smaller.
      }
    }
  }
  return assignments;
}

}  // namespace berth::mesos
