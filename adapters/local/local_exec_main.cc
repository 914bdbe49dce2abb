// berth-local-exec: the supervisor of one local executor.
//
//   berth-local-exec [--run-as USER] <executor dir> <command> [args...]
//
// berthd starts it in a process group of its own, with stdout and stderr on <dir>/executor.log
// and the executor's environment. It changes into <dir>, records its pid and start time in
// <dir>/pid, runs the command (looked up on PATH) as its child, waits for it and records the
// outcome in <dir>/exit ("exit_code=N\nsignal=S\n", written to a temporary file and renamed), so
// that the outcome survives a restart of berthd. Both files are created 0600 whatever the umask.
// It ignores SIGTERM, SIGINT and SIGPWR: Berth signals the whole group, the executor gets the
// signal and the shim stays to record its end. Only SIGKILL ends the shim before the executor is
// recorded.
//
// The shim is a child subreaper: processes the executor leaves behind (even in another session)
// are re-parented to it, reaped while the executor runs, and killed once the executor has ended,
// before the exit record is written. An executor's end is the end of everything it started, as
// when a container stops.
//
// berthd starts the shim with those three signals blocked, so that one sent to the group before
// the executor exists stays pending; the shim passes such early signals on to the executor once
// it is forked (the executor unblocks them only after restoring their default action).
//
// With --run-as, the executor (not the shim, which keeps berthd's user to write its records)
// runs as USER: in <dir>/work, which berthd created for that user, with USER's uid, gid and
// supplementary groups and no capabilities. The shim enters the directory before it switches, so
// the executor needs no access to the directories above it. If the switch fails, the executor
// does not run (exit code 125, the reason in executor.log).
//
// Deliberately tiny: libc only, the on-disk format is shared with adapters/local/local_files.cc.

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kIgnoredSignals[] = {SIGTERM, SIGINT, SIGPWR};
constexpr int kExitUsage = 125;      // the shim could not run the command at all
constexpr int kExitNotExecutable = 126;
constexpr int kExitNotFound = 127;

bool write_atomic(const char* name, const std::string& content) {
  std::string tmp = std::string(name) + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  if (::fchmod(fd, 0600) != 0) {  // 0600 whatever the umask, as berthd writes its files
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
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

// The pids whose parent is this process, from /proc/<pid>/stat (field 4).
std::vector<pid_t> own_children() {
  std::vector<pid_t> children;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return children;
  const pid_t self = ::getpid();
  while (struct dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buffer[1024];
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0) continue;
    buffer[n] = '\0';
    const char* p = std::strrchr(buffer, ')');
    char state = 0;
    long parent = 0;
    if (p != nullptr && std::sscanf(p + 1, " %c %ld", &state, &parent) == 2 && parent == self) {
      children.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(proc);
  return children;
}

// Kills and reaps every remaining descendant: orphans are re-parented to us, so repeat until no
// child is left (bounded, in case something forks as fast as it is killed).
void kill_leftovers() {
  for (int round = 0; round < 1000; ++round) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::vector<pid_t> children = own_children();
    if (children.empty()) return;
    for (pid_t child : children) ::kill(child, SIGKILL);
    while (::waitpid(-1, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

// In the executor's process, before exec: enters work/ and becomes `user` for good. False, with
// the reason on stderr (executor.log), when any step fails.
bool become(const char* user) {
  if (::chdir("work") != 0) {
    std::fprintf(stderr, "berth-local-exec: cannot enter work: %s\n", std::strerror(errno));
    return false;
  }
  errno = 0;
  const passwd* entry = ::getpwnam(user);
  if (entry == nullptr) {
    std::fprintf(stderr, "berth-local-exec: no user %s\n", user);
    return false;
  }
  const uid_t uid = entry->pw_uid;
  const gid_t gid = entry->pw_gid;
  if (::initgroups(user, gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    std::fprintf(stderr, "berth-local-exec: cannot run as %s (uid %u): %s\n", user,
                 static_cast<unsigned>(uid), std::strerror(errno));
    return false;
  }
  // Capabilities berthd was given to switch users must not reach the executor.
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid || ::getegid() != gid) {
    std::fprintf(stderr, "berth-local-exec: still not %s after switching\n", user);
    return false;
  }
  return true;
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
  const char* run_as = nullptr;
  if (argc >= 3 && std::strcmp(argv[1], "--run-as") == 0) {
    run_as = argv[2];
    argv[2] = argv[0];
    argv += 2;
    argc -= 2;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: berth-local-exec [--run-as USER] <executor dir> <command> [args...]\n");
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

  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "berth-local-exec: fork: %s\n", std::strerror(errno));
    record_exit(kExitUsage, 0);
    return kExitUsage;
  }
  if (child == 0) {
    for (int sig : kIgnoredSignals) ::signal(sig, SIG_DFL);
    ::sigprocmask(SIG_UNBLOCK, &forwarded, nullptr);
    if (run_as != nullptr && !become(run_as)) ::_exit(kExitUsage);
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

  // Reap everything that ends (orphans included) until the executor itself does.
  int status = 0;
  for (;;) {
    int reaped_status = 0;
    pid_t reaped = ::waitpid(-1, &reaped_status, 0);
    if (reaped == child) {
      status = reaped_status;
      break;
    }
    if (reaped < 0 && errno != EINTR) {
      std::fprintf(stderr, "berth-local-exec: waitpid: %s\n", std::strerror(errno));
      record_exit(kExitUsage, 0);
      return kExitUsage;
    }
  }
  kill_leftovers();
  if (WIFSIGNALED(status)) {
    record_exit(128 + WTERMSIG(status), WTERMSIG(status));
  } else {
    record_exit(WEXITSTATUS(status), 0);
  }
  return 0;
}
