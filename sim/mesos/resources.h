#pragma once
// Resources as the Mesos master accounts for them: scalars (cpus, mem, disk, gpus) in exact
// milli-units (Mesos keeps three decimal places) and ranges (ports), each under the role that
// reserves it ("*" = unreserved). Pure values with the arithmetic the allocator and the ACCEPT
// validation need, and their JSON form (mesos.v1.Resource).

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace berth::sim::mesos {

// Inclusive [begin, end] pairs, sorted and disjoint after normalisation.
using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

Ranges normalise(Ranges ranges);
std::string format_ranges(const Ranges& ranges);  // "[31000-31005, 31010-31010]"
// "31000-32000" or "31000-31005,31010-31010"; nullopt if malformed.
std::optional<Ranges> parse_ranges(const std::string& text);

class Resources {
 public:
  using Key = std::pair<std::string, std::string>;  // (role, name)

  void add_scalar(const std::string& role, const std::string& name, std::int64_t milli);
  void add_ranges(const std::string& role, const std::string& name, const Ranges& ranges);

  bool empty() const { return scalars_.empty() && ranges_.empty(); }
  void add(const Resources& other);
  // Removes `other`; the caller has checked contains(other).
  void subtract(const Resources& other);
  bool contains(const Resources& other) const;
  // The unreserved resources and those reserved to `role`.
  Resources offerable_to(const std::string& role) const;
  Resources without(const std::string& name) const;
  // Sum over roles of a scalar, in units (e.g. cpus 1.5).
  double scalar(const std::string& name) const;
  const std::map<Key, std::int64_t>& scalars() const { return scalars_; }
  const std::map<Key, Ranges>& ranges() const { return ranges_; }

  // Mesos' text form: "cpus(*):2; mem(batch):1024; ports(*):[31000-31005]".
  std::string describe() const;
  // mesos.v1.Resource objects; allocation_info set when `allocation_role` is non-empty;
  // `refinement` writes `reservations[]` instead of `role` (RESERVATION_REFINEMENT).
  boost::json::array to_json(const std::string& allocation_role, bool refinement) const;

 private:
  std::map<Key, std::int64_t> scalars_;
  std::map<Key, Ranges> ranges_;
};

// One resource of a TaskInfo or ExecutorInfo as the scheduler sent it.
struct ParsedResource {
  std::string role = "*";
  std::optional<std::string> allocation_role;
};

// Parses a JSON array of mesos.v1.Resource. Adds them to `out` and records each one's role and
// allocation_info in `parsed`. Errors are the validation message a master would give.
std::optional<std::string> parse_resources(const boost::json::value& array, Resources& out,
                                           std::vector<ParsedResource>& parsed);

std::int64_t to_milli(double value);

}  // namespace berth::sim::mesos
