#pragma once
// Credential files: backends' tokens and secrets (a Kubernetes service-account token, a Nomad ACL
// token, a Mesos framework secret) live in files that are rotated while berthd runs. A
// CredentialFile holds the value in use and re-reads its file when asked: when the backend
// refused the credential (401/403), and periodically where an adapter does that. The value is
// never logged; errors name the file, not its content. Files are read with base/files.h's
// read_regular_file: a credential file must be a regular file of at most kMaxCredentialFileBytes
// (64 KiB).
//
// Thread-safety: not thread-safe; one per pool, used on the adapter's strand. The free functions
// are thread-safe.

#include <cstddef>
#include <string>

#include "base/files.h"
#include "base/status.h"

namespace berth::adapters {

class CredentialFile {
 public:
  // `path`: the file ("" for a credential that never rotates); `value`: the value to use until
  // the file says otherwise (a static credential from the config, or "").
  CredentialFile(std::string path, std::string value) : path_(std::move(path)), value_(std::move(value)) {}

  const std::string& value() const { return value_; }
  const std::string& path() const { return path_; }
  bool rotates() const { return !path_.empty(); }

  // Re-reads the file (trailing newlines, carriage returns and spaces dropped). True if it holds
  // a new value, which is then value(); an unreadable, empty or oversized file, or one that is not
  // a regular file, keeps the old one.
  bool reload();

 private:
  std::string path_;
  std::string value_;
};

// The whole content of the regular file `path`, at most `max_bytes` (kMaxConfigFileBytes,
// kMaxCredentialFileBytes, kMaxPemFileBytes of base/files.h); kInvalidArgument
// "cannot read <what> <path>: <why>" if it cannot be read, is not a regular file or is larger.
StatusOr<std::string> read_text_file(const std::string& path, const std::string& what, std::size_t max_bytes);

// `text` without leading and trailing spaces, tabs, carriage returns and newlines.
std::string trim(std::string text);

}  // namespace berth::adapters
