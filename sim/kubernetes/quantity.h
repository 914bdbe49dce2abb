#pragma once
// Kubernetes resource quantities ("500m", "2", "4Gi", "1e3") as exact milli-units, and their
// canonical form as the API server writes it back ("1000m" -> "1", "1.5Gi" -> "1536Mi").

#include <cstdint>
#include <optional>
#include <string>

namespace berth::sim::kubernetes {

struct Quantity {
  std::int64_t milli = 0;  // value x 1000 (bytes x 1000 for memory)
  bool binary = false;     // written with a binary suffix (Ki, Mi, ...): canonical form keeps it

  std::int64_t whole_units_ceil() const { return (milli + 999) / 1000; }
  bool is_integer() const { return milli % 1000 == 0; }
};

// Parses a quantity; nullopt if it is not one (or is out of range).
std::optional<Quantity> parse_quantity(const std::string& text);

// Canonical text of a quantity, as the API server stores it.
std::string canonical(const Quantity& quantity);
// Canonical decimal text of a milli-value ("1500m", "2", "64Gi" when binary).
std::string format_milli(std::int64_t milli, bool binary);

}  // namespace berth::sim::kubernetes
