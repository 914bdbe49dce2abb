#include "daemon/startup.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <system_error>
#include <utility>

#include "base/files.h"

namespace berth {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

constexpr std::size_t kMaxLockFileBytes = 4096;  // "<pid>\n"; anything longer is not a pid file

// The whole of the lock file read through `fd` from offset 0, at most kMaxLockFileBytes of it.
std::string read_all(int fd) {
  std::string text;
  char buffer[64];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
    if (text.size() > kMaxLockFileBytes) break;
  }
  return text;
}

std::optional<pid_t> parse_pid(const std::string& text) {
  pid_t pid = 0;
  std::size_t digits = 0;
  for (char c : text) {
    if (c < '0' || c > '9') break;
    if (pid > 100000000) return std::nullopt;
    pid = pid * 10 + (c - '0');
    ++digits;
  }
  if (digits == 0 || pid <= 0) return std::nullopt;
  return pid;
}

Status write_pid(int fd, pid_t pid) {
  const std::string text = std::to_string(pid) + "\n";
  if (::ftruncate(fd, 0) != 0) return Status::Unavailable(errno_text(errno));
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::pwrite(fd, text.data() + written, text.size() - written, static_cast<off_t>(written));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Unavailable(errno_text(errno));
    written += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<StateDirLock> StateDirLock::acquire(const std::string& state_dir) {
  if (Status created = create_private_directories(state_dir); !created.ok()) {
    return Status::Unavailable("state_dir " + state_dir + ": " + created.message());
  }
  std::string path = (std::filesystem::path(state_dir) / kFileName).string();
  // O_CLOEXEC (open_or_create adds it): executors the daemon spawns must not inherit (and so keep
  // holding) the lock. O_NONBLOCK: a FIFO in its place must not block the start.
  StatusOr<int> opened = open_or_create(path, O_RDWR | O_NOCTTY | O_NONBLOCK, 0600);
  if (!opened.ok()) {
    return Status::Unavailable("state_dir " + state_dir + ": the lock file: " + opened.status().message());
  }
  const int fd = *opened;
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status::Unavailable("state_dir " + state_dir + ": the lock file " + path + " is not a regular file");
  }
  int locked;
  do {
    locked = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (locked != 0 && errno == EINTR);
  if (locked != 0) {
    const int lock_error = errno;
    const std::optional<pid_t> holder = parse_pid(read_all(fd));
    ::close(fd);
    if (lock_error == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          "state_dir " + state_dir + " is in use by another berthd (pid " +
          (holder ? std::to_string(*holder) : std::string("unknown")) + ", holding " + path +
          "): one daemon per state directory");
    }
    return Status::Unavailable("state_dir " + state_dir + ": cannot lock " + path + ": " +
                               errno_text(lock_error));
  }
  if (Status written = write_pid(fd, ::getpid()); !written.ok()) {
    ::close(fd);
    return Status::Unavailable("state_dir " + state_dir + ": cannot write the pid into " + path + ": " +
                               written.message());
  }
  return StateDirLock(std::move(path), fd);
}

StateDirLock::StateDirLock(StateDirLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

StateDirLock::~StateDirLock() {
  // Closing the only descriptor of the open file description releases the flock. The pid stays
  // in the file: it is only read when the lock is held.
  if (fd_ >= 0) ::close(fd_);
}

std::optional<pid_t> read_lock_holder(const std::string& path) {
  StatusOr<std::string> text = read_regular_file(path, kMaxLockFileBytes);
  if (!text.ok()) return std::nullopt;
  return parse_pid(*text);
}

std::string new_daemon_id() {
  unsigned char bytes[6];
  RAND_bytes(bytes, sizeof bytes);
  static const char* kHex = "0123456789abcdef";
  std::string id = "d";
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

StatusOr<DaemonIdChoice> choose_daemon_id(const std::string& configured,
                                          const std::map<std::string, std::string>& stored_meta,
                                          const std::string& store_path,
                                          const std::function<std::string()>& generate) {
  if (auto it = stored_meta.find(kMetaDaemonId); it != stored_meta.end() && !it->second.empty()) {
    if (!configured.empty() && configured != it->second) {
      return Status::FailedPrecondition("daemon_id " + configured + " in the config differs from " + it->second +
                                        " in the state store " + store_path +
                                        ": refusing to adopt another daemon's executors");
    }
    return DaemonIdChoice{it->second, true};
  }
  return DaemonIdChoice{configured.empty() ? generate() : configured, false};
}

Status save_daemon_id(Store& store, const std::string& daemon_id) {
  StoreBatch batch;
  batch.put_meta[kMetaDaemonId] = daemon_id;
  std::promise<Status> committed;
  std::future<Status> result = committed.get_future();
  store.commit(std::move(batch), [&committed](Status status) { committed.set_value(std::move(status)); });
  return result.get();
}

config::ReloadPlan apply_reload(config::Config& running, const config::Config& reloaded) {
  config::ReloadPlan plan = config::plan_reload(running, reloaded);
  if (plan.changes.empty()) return plan;
  running.logging.level = reloaded.logging.level;
  running.tokens = reloaded.tokens;
  for (auto& tenant : running.tenants) {
    if (const auto* updated = reloaded.tenant(tenant.name)) tenant.limits = updated->limits;
  }
  return plan;
}

namespace {

Status check_unix_socket_free(const std::string& what, const std::string& address, const std::string& path) {
  const std::string where = what + " " + address + ": ";
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::Unavailable(where + "cannot inspect " + path + ": " + errno_text(errno));
  }
  if (!S_ISSOCK(info.st_mode)) {
    return Status::Unavailable(where + path + " exists and is not a socket: remove it or choose another path");
  }
  sockaddr_un socket_address{};
  socket_address.sun_family = AF_UNIX;
  if (path.size() >= sizeof socket_address.sun_path) {
    return Status::Unavailable(where + "the path is longer than " +
                               std::to_string(sizeof socket_address.sun_path - 1) + " bytes");
  }
  std::memcpy(socket_address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(where + "socket: " + errno_text(errno));
  int connected;
  do {
    connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&socket_address), sizeof socket_address);
  } while (connected != 0 && errno == EINTR);
  const int error = errno;
  ::close(fd);
  if (connected == 0) {
    return Status::Unavailable(where + "the socket is in use (another berthd, or another program, "
                               "listens there)");
  }
  if (error != ECONNREFUSED) {
    return Status::Unavailable(where + "cannot tell whether " + path + " is in use: " + errno_text(error));
  }
  // Nobody listens: left by a daemon that did not exit cleanly.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::Unavailable(where + "cannot remove the stale socket " + path + ": " + errno_text(errno));
  }
  return Status::Ok();
}

}  // namespace

SocketUmask::SocketUmask() : previous_(::umask(0117)) {}
SocketUmask::~SocketUmask() { ::umask(previous_); }

Status restrict_unix_socket(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return Status::Unavailable(path + ": " + errno_text(errno));
  if (!S_ISSOCK(info.st_mode)) return Status::Unavailable(path + " is not a socket");
  if (::chmod(path.c_str(), 0660) != 0) {
    return Status::Unavailable("cannot make " + path + " 0660: " + errno_text(errno));
  }
  return Status::Ok();
}

void remove_unix_socket(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) ::unlink(path.c_str());
}

Status check_port_free(const std::string& what, const std::string& address) {
  if (const std::string path = config::unix_socket_path(address); !path.empty()) {
    return check_unix_socket_free(what, address, path);
  }
  if (address.rfind("unix:", 0) == 0 || address.rfind("unix-abstract:", 0) == 0) return Status::Ok();
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Status::Ok();  // the listener reports what it cannot parse
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port == "0") return Status::Ok();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found) != 0) return Status::Ok();
  Status status = Status::Ok();
  for (const addrinfo* a = found; a != nullptr && status.ok(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // As the listeners bind: SO_REUSEADDR (a port in TIME_WAIT is free), never SO_REUSEPORT.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE) {
      status = Status::Unavailable(what + " " + address + ": the address is in use (another berthd, or another "
                                   "program, listens there)");
    }
    close(fd);
  }
  freeaddrinfo(found);
  return status;
}

}  // namespace berth
