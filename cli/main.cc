// berthctl: the operator's and developer's command-line client of berthd.
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/client.h"
#include "cli/commands.h"

namespace {
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
}  // namespace

int main(int argc, char** argv) {
  berth::cli::CommandLine command_line;
  berth::cli::Invocation invocation;
  try {
    invocation = command_line.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // Prints help or the version to stdout, or the usage error to stderr.
    int code = command_line.app().exit(error);
    return code == static_cast<int>(CLI::ExitCodes::Success) ? 0 : kExitUsage;
  }
  try {
    return berth::cli::run(invocation, std::cout, std::cerr);
  } catch (const std::exception& error) {
    std::cerr << "berthctl: " << error.what() << '\n';
    return kExitFailure;
  }
}
