#pragma once
// Small text helpers shared by config's parsers. Internal to config/.

#include <optional>
#include <string>

#include "core/types.h"

namespace berth::config {

// "250ms", "10s", "5m", "1h" or a plain integer (seconds). Negative, fractional and overflowing
// values are nullopt.
std::optional<Duration> parse_duration(const std::string& text);
// The inverse, in the largest unit that divides the duration exactly: 90000ms -> "90s".
std::string format_duration(Duration duration);

// `text` in double quotes for an error message, control characters escaped, cut after 80
// characters so a pasted blob does not flood the log.
std::string quote(const std::string& text);
std::string lower(std::string text);

}  // namespace berth::config
