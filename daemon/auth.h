#pragma once
// Authenticator: maps a bearer token to the caller's tenant and role. Tokens are compared by
// their SHA-256 digest, so lookup time does not depend on how much of a guess matches.
//
// Thread-safe: gRPC threads authenticate while SIGHUP replaces the token set.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "base/status.h"

namespace berth {

struct Caller {
  TenantName tenant;        // empty for an operator or an anonymous caller
  bool is_operator = false;
  bool anonymous = false;   // no tokens are configured: every caller is trusted (loopback only)

  // Whether this caller may see and touch applications of `app_tenant`.
  bool may_access(const TenantName& app_tenant) const {
    return is_operator || anonymous || tenant == app_tenant;
  }
};

class Authenticator {
 public:
  // An empty token list with `required` false means authentication is off.
  void set_tokens(const std::vector<config::TokenEntry>& tokens, bool required);
  // `authorization` is the value of the "authorization" metadata ("Bearer <token>"), if any.
  StatusOr<Caller> authenticate(std::optional<std::string_view> authorization) const;

  // Calls `check` after every later set_tokens(), on that caller's thread, until it returns
  // false: long-lived calls (a WatchEvents stream) re-authenticate when tokens change.
  void on_tokens_changed(std::function<bool()> check);

 private:
  static std::string digest(std::string_view token);

  std::mutex checks_mutex_;
  std::vector<std::function<bool()>> checks_;
  mutable std::mutex mutex_;
  bool required_ = false;
  std::map<std::string, config::TokenEntry> by_digest_;
};

}  // namespace berth
