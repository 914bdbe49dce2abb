#pragma once
// Credential files: backends' tokens and secrets (a Kubernetes service-account token, a Nomad ACL
// token, a Mesos framework secret) live in files that are rotated while berthd runs. A
// CredentialFile holds the value in use and re-reads its file when asked: when the backend
// refused the credential (401/403), and periodically where an adapter does that. The value is
// never logged; errors name the file, not its content.
//
// Thread-safety: not thread-safe; one per pool, used on the adapter's strand. The free functions
// are thread-safe.

#include <string>

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
  // a new value, which is then value(); an unreadable or empty file keeps the old one.
  bool reload();

 private:
  std::string path_;
  std::string value_;
};

// The whole content of `path`; kInvalidArgument "cannot read <what> <path>" if it cannot be read.
StatusOr<std::string> read_text_file(const std::string& path, const std::string& what);

// `text` without leading and trailing spaces, tabs, carriage returns and newlines.
std::string trim(std::string text);

}  // namespace berth::adapters
