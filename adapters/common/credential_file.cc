#include "adapters/common/credential_file.h"

#include <utility>

namespace berth::adapters {

bool CredentialFile::reload() {
  if (path_.empty()) return false;
  StatusOr<std::string> text = read_regular_file(path_, kMaxCredentialFileBytes);
  if (!text.ok()) return false;
  std::string value = std::move(*text);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) value.pop_back();
  if (value.empty() || value == value_) return false;
  value_ = std::move(value);
  return true;
}

StatusOr<std::string> read_text_file(const std::string& path, const std::string& what, std::size_t max_bytes) {
  StatusOr<std::string> text = read_regular_file(path, max_bytes, what);
  if (!text.ok()) return Status::InvalidArgument(text.status().message());
  return text;
}

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace berth::adapters
