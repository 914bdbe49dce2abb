#pragma once
// Offers and what Berth takes from them: Spark's attribute constraints (spark.mesos.constraints
// syntax), carving a task's resources out of an offer (each piece keeps the offered entry's role,
// reservations and allocation_info, as MULTI_ROLE requires; resources reserved for the
// framework's role are taken before unreserved ones, since they exist for it), and the fair
// assignment of the pending executors of every application to a batch of offers (offers holding
// reserved resources first; agents with GPUs only for executors that need GPUs, as Mesos asks of
// GPU_RESOURCES frameworks).
//
// Pure; thread-safe.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth::mesos {

struct Offer {
  std::string id;
  std::string agent_id;
  std::string hostname;
  boost::json::array resources;                       // as offered
  std::map<std::string, boost::json::object> attributes;  // name -> Attribute
  // The agent has GPUs: the offer holds some (parse_offer), or the caller knows the agent from
  // an earlier offer that did (an agent whose GPUs are all in use offers none).
  bool gpu_agent = false;
};
Offer parse_offer(const boost::json::object& offer);

// "rack:r1,r2;os:linux;gpu" -> {rack in {r1,r2}}, {os in {linux}}, {gpu present}.
struct Constraint {
  std::string attribute;
  std::vector<std::string> values;  // empty: the attribute must only exist
};
StatusOr<std::vector<Constraint>> parse_constraints(const std::string& text);
// Text attributes match a value exactly; scalars numerically; ranges when a value falls in one;
// sets when they hold a value.
bool satisfies(const Offer& offer, const std::vector<Constraint>& constraints);

struct TaskDemand {
  double cpus = 0;
  double mem = 0;   // MB
  double gpus = 0;  // whole GPUs
  double disk = 0;  // MB
  int ports = 0;    // host ports, from the offer's port ranges
};
TaskDemand demand_of(const ResourceProfile& profile, int ports = 0);

// The ports of a task's resources, in order ("ports" ranges expanded).
std::vector<std::uint64_t> ports_of(const boost::json::array& resources);

// The unused part of one offer.
class OfferResources {
 public:
  explicit OfferResources(const boost::json::array& offered);
  // The resources of a task of `demand` if all of it fits (and takes them), else nullopt.
  // Reserved entries are used before unreserved ones.
  std::optional<boost::json::array> take(const TaskDemand& demand);
  // Whether some of what is left is reserved (for the framework's role: offers hold nothing
  // reserved for others).
  bool holds_reserved() const;

 private:
  double available(const std::string& name) const;
  std::size_t available_ports() const;
  boost::json::array remaining_;
};

struct PendingTask {
  AppId app;
  TaskDemand demand;
};
struct Assignment {
  std::size_t task = 0;   // index into the pending tasks
  std::size_t offer = 0;  // index into the offers
  boost::json::array resources;
};

// Places pending tasks (in their queue order within each application) on `offers`, taking one
// task of each application in turn so that no application starves the others, and packing as
// many tasks into each offer as fit. Offers where `usable` is false are skipped. A task tries the
// offers that still hold reserved resources before the others, and a task that needs no GPU
// never goes to a GPU agent (Offer::gpu_agent).
std::vector<Assignment> assign(const std::vector<PendingTask>& tasks, const std::vector<Offer>& offers,
                               const std::vector<bool>& usable);

}  // namespace berth::mesos
