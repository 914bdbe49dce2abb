#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace berth {
namespace {

// Closes the descriptor it holds when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

StatusCode code_of_errno(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return StatusCode::kPermissionDenied;
    default:
      return StatusCode::kUnavailable;
  }
}

}  // namespace

std::string format_byte_count(std::size_t bytes) {
  if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes >= kKiB && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

StatusOr<std::string> read_regular_file(const std::string& path, std::size_t max_bytes,
                                        const std::string& what) {
  const std::string prefix = "cannot read " + (what.empty() ? path : what + " " + path) + ": ";
  auto from_errno = [&](int error) { return Status(code_of_errno(error), prefix + std::strerror(error)); };
  auto not_regular = [&](mode_t mode) {
    return Status::InvalidArgument(prefix + "not a regular file (" + file_kind(mode) + ")");
  };
  auto too_large = [&] { return Status::InvalidArgument(prefix + "larger than " + format_byte_count(max_bytes)); };

  // stat first, so that a device is never opened (opening some has side effects); fstat after
  // opening, for a file replaced in between. O_NONBLOCK: opening a FIFO must not wait for a writer.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return from_errno(errno);
  if (!S_ISREG(info.st_mode)) return not_regular(info.st_mode);
  if (static_cast<std::uint64_t>(info.st_size) > max_bytes) return too_large();
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return from_errno(errno);
  if (::fstat(fd.get(), &info) != 0) return from_errno(errno);
  if (!S_ISREG(info.st_mode)) return not_regular(info.st_mode);
  if (static_cast<std::uint64_t>(info.st_size) > max_bytes) return too_large();

  // st_size is only a hint (files in /proc report 0; a file may grow): read until the end, but
  // never more than one byte past the cap.
  std::string content;
  content.reserve(static_cast<std::size_t>(info.st_size));
  char buffer[16 * 1024];
  while (content.size() <= max_bytes) {
    const std::size_t want = std::min(sizeof buffer, max_bytes + 1 - content.size());
    const ssize_t n = ::read(fd.get(), buffer, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return from_errno(errno);
    if (n == 0) return content;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  return too_large();
}

Status create_private_directories(const std::string& path) {
  std::filesystem::path prefix;
  for (const std::filesystem::path& part : std::filesystem::path(path)) {
    if (part.empty()) continue;  // the trailing "" of "a/b/"
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) == 0) {
      // The umask may have taken bits away; 0700 it is.
      if (::chmod(prefix.c_str(), 0700) != 0) {
        return Status::Unavailable("cannot set the mode of directory " + prefix.string() + ": " +
                                   std::strerror(errno));
      }
      continue;
    }
    const int error = errno;
    struct stat info {};
    if (::stat(prefix.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) continue;  // there already
    if (error == EEXIST) return Status::Unavailable("cannot create directory " + prefix.string() + ": not a directory");
    return Status::Unavailable("cannot create directory " + prefix.string() + ": " + std::strerror(error));
  }
  return Status::Ok();
}

StatusOr<int> open_or_create(const std::string& path, int flags, mode_t mode) {
  flags |= O_CLOEXEC;
  // Bounded: another process could remove and recreate the file between the two opens.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int created = ::open(path.c_str(), flags | O_CREAT | O_EXCL, mode);
    if (created >= 0) {
      if (::fchmod(created, mode) != 0) {
        const int error = errno;
        ::close(created);
        return Status::Unavailable("cannot set the mode of " + path + ": " + std::strerror(error));
      }
      return created;
    }
    if (errno != EEXIST) return Status::Unavailable("cannot create " + path + ": " + std::strerror(errno));
    const int existing = ::open(path.c_str(), flags);
    if (existing >= 0) return existing;
    if (errno != ENOENT) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  }
  return Status::Unavailable("cannot open " + path + ": " + std::strerror(ENOENT));
}

}  // namespace berth
