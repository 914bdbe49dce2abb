#include "base/files.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace berth {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "berth-files-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    const fs::path path = path_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Sets the process umask for the life of the object.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

mode_t mode_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

TEST_CASE("a regular file within the cap is read whole") {
  TempDir dir;
  const std::string path = dir.file("config.yaml", "listen: 127.0.0.1:0\n");
  auto text = read_regular_file(path, 1024);
  INFO(text.status().message());
  REQUIRE(text.ok());
  CHECK(*text == "listen: 127.0.0.1:0\n");

  auto empty = read_regular_file(dir.file("empty", ""), 1024);
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  const std::string exact(1024, 'x');
  auto at_cap = read_regular_file(dir.file("exact", exact), 1024);
  REQUIRE(at_cap.ok());
  CHECK(*at_cap == exact);
}

TEST_CASE("a file over the cap is refused, naming the file and the cap") {
  TempDir dir;
  const std::string path = dir.file("big.yaml", std::string(kKiB + 1, 'x'));
  auto text = read_regular_file(path, kKiB, "pod template");
  REQUIRE_FALSE(text.ok());
  CHECK(text.status().code() == StatusCode::kInvalidArgument);
  CHECK(text.status().message() == "cannot read pod template " + path + ": larger than 1 KiB");

  auto mib = read_regular_file(dir.file("big2", std::string(2 * kMiB, 'x')), kMiB);
  CHECK(mib.status().message() == "cannot read " + (dir.path() / "big2").string() + ": larger than 1 MiB");
}

TEST_CASE("a file whose size is not known in advance is read only up to one byte past the cap") {
  // Files in /proc report a size of 0: only the read itself finds out how long they are.
  auto status = read_regular_file("/proc/self/status", 16);
  REQUIRE_FALSE(status.ok());
  CHECK(status.status().message() == "cannot read /proc/self/status: larger than 16 bytes");
  auto whole = read_regular_file("/proc/self/stat", 64 * kKiB);
  REQUIRE(whole.ok());
  CHECK(whole->find(')') != std::string::npos);
}

TEST_CASE("devices are refused without being read") {
  for (const char* device : {"/dev/zero", "/dev/urandom", "/dev/null"}) {
    INFO(device);
    auto text = read_regular_file(device, kMiB, "tokens_file");
    REQUIRE_FALSE(text.ok());
    CHECK(text.status().code() == StatusCode::kInvalidArgument);
    CHECK(text.status().message() ==
          "cannot read tokens_file " + std::string(device) + ": not a regular file (a character device)");
  }
}

TEST_CASE("a FIFO is refused at once, without waiting for a writer") {
  TempDir dir;
  const fs::path fifo = dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto text = read_regular_file(fifo.string(), kMiB);  // would block forever if it opened for reading
  REQUIRE_FALSE(text.ok());
  CHECK(text.status().message() == "cannot read " + fifo.string() + ": not a regular file (a FIFO)");
}

TEST_CASE("a directory is refused") {
  TempDir dir;
  auto text = read_regular_file(dir.path().string(), kMiB);
  REQUIRE_FALSE(text.ok());
  CHECK(text.status().code() == StatusCode::kInvalidArgument);
  CHECK(text.status().message() == "cannot read " + dir.path().string() + ": not a regular file (a directory)");
}

TEST_CASE("a symbolic link to a regular file is followed; to a device, refused") {
  TempDir dir;
  const std::string target = dir.file("token", "secret\n");
  fs::create_symlink(target, dir.path() / "link");
  auto text = read_regular_file((dir.path() / "link").string(), kKiB);
  REQUIRE(text.ok());
  CHECK(*text == "secret\n");
  fs::create_symlink("/dev/zero", dir.path() / "zero");
  CHECK_FALSE(read_regular_file((dir.path() / "zero").string(), kKiB).ok());
}

TEST_CASE("a missing file is kNotFound with the system's reason") {
  TempDir dir;
  const std::string path = (dir.path() / "absent").string();
  auto text = read_regular_file(path, kKiB, "secret_file");
  CHECK(text.status().code() == StatusCode::kNotFound);
  CHECK(text.status().message() == "cannot read secret_file " + path + ": No such file or directory");
}

TEST_CASE("caps read as operators write them") {
  CHECK(format_byte_count(kMaxConfigFileBytes) == "1 MiB");
  CHECK(format_byte_count(kMaxCredentialFileBytes) == "64 KiB");
  CHECK(format_byte_count(1536) == "1536 bytes");
  CHECK(format_byte_count(1) == "1 byte");
}

TEST_CASE("private directories are 0700 whatever the umask; existing ones keep their mode") {
  TempDir dir;
  fs::create_directory(dir.path() / "shared");
  fs::permissions(dir.path() / "shared", fs::perms(0755));
  for (mode_t mask : {mode_t{022}, mode_t{0777}, mode_t{0}}) {
    INFO("umask " << mask);
    const fs::path leaf = dir.path() / "shared" / ("state-" + std::to_string(mask)) / "local" / "pool";
    {
      ScopedUmask umask(mask);
      REQUIRE(create_private_directories(leaf.string()).ok());
      CHECK(create_private_directories(leaf.string() + "/").ok());  // again: nothing to do
    }
    CHECK(mode_of(leaf) == 0700);
    CHECK(mode_of(leaf.parent_path()) == 0700);
    CHECK(mode_of(leaf.parent_path().parent_path()) == 0700);
  }
  CHECK(mode_of(dir.path() / "shared") == 0755);

  const std::string file = dir.file("file", "x");
  Status blocked = create_private_directories(file + "/sub");
  CHECK(blocked.code() == StatusCode::kUnavailable);
  CHECK(blocked.message().find(file) != std::string::npos);
}

TEST_CASE("open_or_create creates files with exactly the mode asked for; existing files keep theirs") {
  TempDir dir;
  for (mode_t mask : {mode_t{022}, mode_t{0777}, mode_t{0}}) {
    INFO("umask " << mask);
    const fs::path path = dir.path() / ("lock-" + std::to_string(mask));
    ScopedUmask umask(mask);
    auto fd = open_or_create(path.string(), O_RDWR, 0600);
    REQUIRE(fd.ok());
    CHECK(::write(*fd, "1\n", 2) == 2);
    ::close(*fd);
    CHECK(mode_of(path) == 0600);
  }

  const std::string existing = dir.file("existing", "keep");
  fs::permissions(existing, fs::perms(0640));
  auto fd = open_or_create(existing, O_WRONLY | O_APPEND, 0600);
  REQUIRE(fd.ok());
  CHECK(::write(*fd, "!", 1) == 1);
  ::close(*fd);
  CHECK(mode_of(existing) == 0640);
  CHECK(*read_regular_file(existing, kKiB) == "keep!");

  auto missing_dir = open_or_create((dir.path() / "no" / "file").string(), O_RDWR, 0600);
  CHECK(missing_dir.status().code() == StatusCode::kUnavailable);
}

}  // namespace
}  // namespace berth
