#include "adapters/common/credential_file.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace berth::adapters {
namespace {

class TempFile {
 public:
  TempFile() {
    char pattern[] = "/tmp/berth-credential-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    path_ = (dir_ / "token").string();
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void write(const std::string& text) const { std::ofstream(path_, std::ios::binary | std::ios::trunc) << text; }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

TEST_CASE("a credential file is re-read and says when it rotated") {
  TempFile file;
  file.write("first\n");
  CredentialFile credential(file.path(), "");
  CHECK(credential.rotates());
  CHECK(credential.reload());
  CHECK(credential.value() == "first");
  CHECK_FALSE(credential.reload());  // unchanged
  file.write("second \r\n");
  CHECK(credential.reload());
  CHECK(credential.value() == "second");
}

TEST_CASE("an empty or missing credential file keeps the value in use") {
  TempFile file;
  CredentialFile credential(file.path(), "static");
  CHECK_FALSE(credential.reload());  // missing
  CHECK(credential.value() == "static");
  file.write("\n");
  CHECK_FALSE(credential.reload());
  CHECK(credential.value() == "static");
}

TEST_CASE("a credential without a file never reloads") {
  CredentialFile credential("", "token");
  CHECK_FALSE(credential.rotates());
  CHECK_FALSE(credential.reload());
  CHECK(credential.value() == "token");
}

TEST_CASE("read_text_file names what it could not read") {
  TempFile file;
  auto missing = read_text_file(file.path(), "token_file", kMaxCredentialFileBytes);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kInvalidArgument);
  CHECK(missing.status().message() == "cannot read token_file " + file.path() + ": No such file or directory");
  file.write("  x\t\n");
  auto read = read_text_file(file.path(), "token_file", kMaxCredentialFileBytes);
  REQUIRE(read.ok());
  CHECK(*read == "  x\t\n");
  CHECK(trim(*read) == "x");
  CHECK(trim(" \t\r\n") == "");
}

// Issue 11: a credential file at /dev/zero was read until memory ran out.
TEST_CASE("read_text_file refuses what is not a regular file, or is larger than the cap") {
  auto device = read_text_file("/dev/zero", "token_file", kMaxCredentialFileBytes);
  CHECK(device.status().code() == StatusCode::kInvalidArgument);
  CHECK(device.status().message() == "cannot read token_file /dev/zero: not a regular file (a character device)");
  TempFile file;
  file.write(std::string(kMaxCredentialFileBytes + 1, 'x'));
  auto large = read_text_file(file.path(), "token_file", kMaxCredentialFileBytes);
  CHECK(large.status().code() == StatusCode::kInvalidArgument);
  CHECK(large.status().message() == "cannot read token_file " + file.path() + ": larger than 64 KiB");
}

TEST_CASE("a credential file that became a device or too large keeps the value in use") {
  TempFile file;
  file.write("first\n");
  CredentialFile credential(file.path(), "");
  CHECK(credential.reload());
  file.write(std::string(kMaxCredentialFileBytes + 1, 'x'));
  CHECK_FALSE(credential.reload());
  CHECK(credential.value() == "first");
  CredentialFile device("/dev/zero", "static");
  CHECK_FALSE(device.reload());  // returns at once, reads nothing
  CHECK(device.value() == "static");
}

}  // namespace
}  // namespace berth::adapters
