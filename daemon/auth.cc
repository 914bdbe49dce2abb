#include "daemon/auth.h"

#include <openssl/sha.h>

namespace berth {

std::string Authenticator::digest(std::string_view token) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

void Authenticator::set_tokens(const std::vector<config::TokenEntry>& tokens, bool required) {
  std::map<std::string, config::TokenEntry> by_digest;
  for (const auto& entry : tokens) by_digest[digest(entry.token)] = entry;
  {
    std::lock_guard lock(mutex_);
    required_ = required;
    by_digest_ = std::move(by_digest);
  }
  std::vector<std::function<bool()>> checks;
  {
    std::lock_guard lock(checks_mutex_);
    checks.swap(checks_);
  }
  std::vector<std::function<bool()>> keep;
  for (auto& check : checks) {
    if (check()) keep.push_back(std::move(check));
  }
  std::lock_guard lock(checks_mutex_);
  keep.insert(keep.end(), std::make_move_iterator(checks_.begin()), std::make_move_iterator(checks_.end()));
  checks_.swap(keep);
}

void Authenticator::on_tokens_changed(std::function<bool()> check) {
  std::lock_guard lock(checks_mutex_);
  checks_.push_back(std::move(check));
}

StatusOr<Caller> Authenticator::authenticate(std::optional<std::string_view> authorization) const {
  std::lock_guard lock(mutex_);
  if (!required_) {
    Caller anonymous;
    anonymous.anonymous = true;
    anonymous.is_operator = true;
    return anonymous;
  }
  if (!authorization) return Status::Unauthenticated("missing authorization metadata (Bearer token)");
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view value = *authorization;
  if (value.substr(0, kBearer.size()) != kBearer) {
    return Status::Unauthenticated("authorization metadata must be \"Bearer <token>\"");
  }
  auto it = by_digest_.find(digest(value.substr(kBearer.size())));
  if (it == by_digest_.end()) return Status::Unauthenticated("unknown token");
  Caller caller;
  caller.tenant = it->second.tenant;
  caller.is_operator = it->second.role == config::Role::kOperator;
  return caller;
}

}  // namespace berth
