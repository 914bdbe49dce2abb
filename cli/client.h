// Runs a parsed berthctl invocation against berthd over gRPC. The only part of berthctl that
// touches the network; everything it prints comes from format.h.
#pragma once

#include <iosfwd>

#include "cli/commands.h"

namespace berth::cli {

// Connects as invocation.connection says, makes the one call the request names and prints the
// result to `out` in invocation.output's format. Returns the process exit code: 0 on success,
// 1 when the call fails (one "berthctl: CODE: message" line on `err`) or, for health, when the
// daemon is not SERVING. Throws std::runtime_error when a token or certificate file cannot be
// read. A watch without a count ends cleanly, with 0, on SIGINT or SIGTERM.
int run(const Invocation& invocation, std::ostream& out, std::ostream& err);

}  // namespace berth::cli
