// Conformance of LocalBackend (adapters/testing/conformance.h) against real processes under the
// real berth-local-exec shim, in a temporary work_dir per test case. There is no simulator: the
// executors are small shell scripts that the target scripts through files in their directories
// (their working directories), and every process a test case starts is killed when it ends.

#include <boost/asio/any_io_executor.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "adapters/local/local_backend.h"
#include "adapters/local/tests/local_processes.h"
#include "adapters/testing/conformance.h"

namespace berth {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The executor of every scenario: ready once its traps are set, counts the SIGTERMs that reach
// it (then ends 143), leaves with 0 on Spark's decommission signal, and exits with the code
// written to its exit-code file.
constexpr const char* kExecutor =
    "trap 'echo TERM >> signals; exit 143' TERM\n"
    "trap 'exit 0' PWR\n"
    "touch ready\n"
    "while [ ! -e exit-code ]; do sleep 0.05; done\n"
    "exit \"$(cat exit-code)\"\n";

// An executor that only a SIGKILL ends (its children inherit the ignored SIGTERM).
constexpr const char* kIgnoresTerm =
    "trap '' TERM\n"
    "touch ready\n"
    "while :; do sleep 1; done\n";

class LocalConformance {
 public:
  LocalConformance() {
    config_.work_dir = tmp_.path() / "work";
    config_.poll_interval = 50ms;
    config_.shim_path = BERTH_LOCAL_EXEC;
    config_.allow_root = true;  // the tests may run as root
    target_.name = "local";
    target_.pool = "local";
    target_.make_backend = [config = config_](boost::asio::any_io_executor strand) {
      return make_local_backend(strand, "local", config, "edge-1");
    };
    // Another daemon sharing the work_dir (the capacity is counted across daemons there).
    target_.make_other_backend = [config = config_](boost::asio::any_io_executor strand) {
      return make_local_backend(strand, "local", config, conformance::ConformanceTarget::kOtherDaemon);
    };
    target_.lists_other_daemons = true;  // list() is every executor directory, of any daemon id
    target_.adjust_request = [](LaunchRequest& request) {
      request.spec.image.clear();
      request.spec.command = {"/bin/sh", "-c", kExecutor};
    };
    target_.executor_ready = [this](const std::string& name) { return fs::exists(dir(name) / "ready"); };
    target_.exit_executor = [this](const std::string& name, int code, bool) {
      const fs::path scratch = dir(name) / "exit-code.tmp";
      std::ofstream(scratch) << code << "\n";
      fs::rename(scratch, dir(name) / "exit-code");
    };
    target_.reports_oom = false;
    target_.skip_reasons["oom"] =
        "the local backend sets no memory limit, and a kernel OOM kill is a SIGKILL like any other";
    target_.skip_reasons["outage"] = "the local backend has no server that could be unreachable";
    target_.ignore_sigterm = [](LaunchRequest& request) { request.spec.command = {"/bin/sh", "-c", kIgnoresTerm}; };
    target_.kill_slack = 2s;
    // No server counts requests: the executors count the SIGTERMs that reach them instead.
    target_.reset_requests = [this] { term_baseline_ = terms_received(); };
    target_.executor_requests = [this] {
      return std::map<std::string, int>{{"SIGTERM received by executors", terms_received() - term_baseline_}};
    };
    target_.skip_reasons["unlabelled"] =
        "every directory under work_dir is the pool's; a process outside it is invisible to the backend";
    target_.make_invalid = [](LaunchRequest& request) {
      request.backend_name = "berth-app-1/../exec-1";
      return std::string("is not a valid directory name");
    };
    target_.skip_reasons["quota"] =
        "the local backend has capacity, not quotas: an executor larger than the pool is kFailedPrecondition "
        "(local_backend_test)";
    target_.skip_reasons["retryable"] =
        "its only retryable refusal is an unwritable work_dir, which a test running as root cannot cause";
  }

  ~LocalConformance() { local_testing::kill_everything(config_.work_dir); }

  conformance::ConformanceTarget& target() { return target_; }

 private:
  fs::path dir(const std::string& name) const { return config_.work_dir / name; }

  int terms_received() const {
    int count = 0;
    std::error_code ec;
    for (fs::directory_iterator it(config_.work_dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string text = local_testing::read_file(it->path() / "signals").value_or("");
      for (char c : text) count += c == '\n';
    }
    return count;
  }

  local_testing::TempDir tmp_;
  LocalPoolConfig config_;
  conformance::ConformanceTarget target_;
  int term_baseline_ = 0;
};

BERTH_CONFORMANCE_SUITE("local", LocalConformance)

}  // namespace
}  // namespace berth
