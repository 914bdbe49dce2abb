// berth-local-exec: the supervisor of one local executor.
//
//   berth-local-exec <executor dir> <command> [args...]
//
// berthd starts it in a process group of its own, with stdout and stderr on <dir>/executor.log
// and the executor's environment. It changes into <dir>, records its pid and start time in
// <dir>/pid, runs the command (looked up on PATH) as its child, waits for it and records the
// outcome in <dir>/exit ("exit_code=N\nsignal=S\n", written to a temporary file and renamed), so
// that the outcome survives a restart of berthd. It ignores SIGTERM, SIGINT and SIGPWR: Berth
// signals the whole group, the executor gets the signal and the shim stays to record its end.
// Only SIGKILL ends the shim before the executor is recorded.
//
// berthd starts the shim with those three signals blocked, so that one sent to the group before
// the executor exists stays pending; the shim passes such early signals on to the executor once
// it is forked (the executor unblocks them only after restoring their default action).
//
// Deliberately tiny: libc only, the on-disk format is shared with adapters/local/local_files.cc.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr int kIgnoredSignals[] = {SIGTERM, SIGINT, SIGPWR};
constexpr int kExitUsage = 125;      // the shim could not run the command at all
constexpr int kExitNotExecutable = 126;
constexpr int kExitNotFound = 127;

bool write_atomic(const char* name, const std::string& content) {
  std::string tmp = std::string(name) + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return ::rename(tmp.c_str(), name) == 0;
}

// Field 22 of /proc/self/stat: the start time berthd checks before trusting the pid file.
std::string own_start_time() {
  char buffer[4096];
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "0";
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return "0";
  buffer[n] = '\0';
  const char* p = std::strrchr(buffer, ')');
  if (p == nullptr) return "0";
  // ") S ppid ...": the n-th space after ')' precedes field n + 2; field 22 follows the 20th.
  for (int field = 3; field <= 22 && p != nullptr; ++field) p = std::strchr(p + 1, ' ');
  if (p == nullptr) return "0";
  return std::to_string(std::strtoull(p + 1, nullptr, 10));
}

void record_exit(int exit_code, int signal) {
  std::string content =
      "exit_code=" + std::to_string(exit_code) + "\nsignal=" + std::to_string(signal) + "\n";
  if (!write_atomic("exit", content)) {
    std::fprintf(stderr, "berth-local-exec: cannot write the exit record: %s\n", std::strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: berth-local-exec <executor dir> <command> [args...]\n");
    return kExitUsage;
  }
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : kIgnoredSignals) sigaddset(&forwarded, sig);
  ::sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  for (int sig : kIgnoredSignals) ::signal(sig, SIG_IGN);
  if (::chdir(argv[1]) != 0) {
    std::fprintf(stderr, "berth-local-exec: cannot enter %s: %s\n", argv[1], std::strerror(errno));
    return kExitUsage;
  }
  // berthd writes the same record after spawning us; writing it here too covers a daemon that
  // died in between, so the executor is never left running unrecorded.
  write_atomic("pid", std::to_string(::getpid()) + " " + own_start_time() + "\n");

  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "berth-local-exec: fork: %s\n", std::strerror(errno));
    record_exit(kExitUsage, 0);
    return kExitUsage;
  }
  if (child == 0) {
    for (int sig : kIgnoredSignals) ::signal(sig, SIG_DFL);
    ::sigprocmask(SIG_UNBLOCK, &forwarded, nullptr);
    ::execvp(argv[2], argv + 2);
    int err = errno;
    std::fprintf(stderr, "berth-local-exec: %s: %s\n", argv[2], std::strerror(err));
    ::_exit(err == ENOENT ? kExitNotFound : kExitNotExecutable);
  }

  sigset_t early;
  sigemptyset(&early);
  if (::sigpending(&early) == 0) {
    for (int sig : kIgnoredSignals) {
      if (sigismember(&early, sig) == 1) ::kill(child, sig);
    }
  }

  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      std::fprintf(stderr, "berth-local-exec: waitpid: %s\n", std::strerror(errno));
      record_exit(kExitUsage, 0);
      return kExitUsage;
    }
  }
  if (WIFSIGNALED(status)) {
    record_exit(128 + WTERMSIG(status), WTERMSIG(status));
  } else {
    record_exit(WEXITSTATUS(status), 0);
  }
  return 0;
}
