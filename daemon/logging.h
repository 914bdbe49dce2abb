#pragma once
// Logging set-up: spdlog to stderr (journald captures it under systemd), as text or as JSON lines
// with the message properly escaped.

#include <string>

#include "base/status.h"

namespace berth {

// level: trace|debug|info|warn|error; format: text|json.
Status configure_logging(const std::string& level, const std::string& format);
Status set_log_level(const std::string& level);

}  // namespace berth
