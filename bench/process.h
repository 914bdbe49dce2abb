#pragma once
// A child process of the benchmark (berthd, berth-sim), started with its own temp directory and
// stopped (SIGKILL or SIGTERM) and reaped by the harness.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace berth::bench {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv with stdout/stderr appended to `log_file`. Returns false with `error` set.
  bool start(const std::vector<std::string>& argv, const std::string& log_file, std::string* error);
  // Waits until `port_file` exists and holds `key=HOST:PORT`; returns HOST:PORT or "".
  std::string wait_for_address(const std::string& port_file, const std::string& key,
                               std::chrono::milliseconds timeout);
  void kill(int signal);  // signal and reap
  int wait();             // waits for the exit; returns the exit status (or -1)
  pid_t pid() const { return pid_; }
  // Resident set size and CPU seconds (user + system) from /proc.
  long rss_kib() const;
  double cpu_seconds() const;

 private:
  pid_t pid_ = -1;
};

std::string make_temp_dir(const std::string& prefix);
void write_file(const std::string& path, const std::string& content);

}  // namespace berth::bench
