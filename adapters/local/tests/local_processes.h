#pragma once
// What the local backend's tests share: a temporary directory and the clean-up that kills every
// executor a test started, pass or fail. Header-only: used by test binaries only.

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "adapters/local/local_files.h"

namespace berth::local_testing {

inline std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Kills every executor group found under `work_dir` and reaps what is this process's child.
inline void kill_everything(const std::filesystem::path& work_dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(work_dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto text = read_file(it->path() / local::kPidFile);
    if (!text) continue;
    auto pid = local::decode_pid_record(*text);
    if (!pid) continue;
    auto stat = local::read_proc_stat(pid->pid);
    if (!stat || stat->start_time != pid->start_time) continue;
    ::killpg(pid->pid, SIGKILL);
    int status = 0;
    ::waitpid(pid->pid, &status, 0);  // ECHILD for adopted ones: init reaps them
  }
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "berth-local-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace berth::local_testing
