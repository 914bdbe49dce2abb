#pragma once
// The gRPC face of berthd: berth.v1.Executors for drivers and berth.v1.Admin for operators, on
// the callback API. Handlers authenticate, validate, post the command to the core strand and
// finish the call from there; a mutating call finishes only once its change is durable. They
// never block a gRPC thread.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <vector>
#include <mutex>
#include <functional>
#include <regex>
#include <string>

#include "berth/v1/berth.grpc.pb.h"
#include "daemon/auth.h"
#include "daemon/metrics.h"
#include "daemon/runtime.h"

namespace berth {

// The long-lived calls in progress (WatchEvents streams), so that a stopping daemon ends them at
// once (UNAVAILABLE, with the revision to resume from) instead of waiting for gRPC's shutdown
// deadline. Thread-safe.
class OpenStreams {
 public:
  // `end` ends one stream; it is dropped once `owner` is gone.
  void add(std::weak_ptr<void> owner, std::function<void()> end);
  void end_all();

  // Counts a tenant's open watches against its limit (0 = none): false, counting nothing, when
  // `tenant` already has `limit` open. Every true is matched by one watch_closed().
  bool watch_opened(const TenantName& tenant, std::int32_t limit);
  void watch_closed(const TenantName& tenant);

 private:
  std::mutex mutex_;
  std::map<TenantName, std::int32_t> watches_;
  std::vector<std::pair<std::weak_ptr<void>, std::function<void()>>> streams_;
};

struct ServiceContext {
  Runtime& runtime;
  Authenticator& auth;
  Metrics& metrics;
  std::string daemon_id;
  std::string version;
  Timestamp started;
  TenantName default_tenant;  // for anonymous callers that name no tenant
  // Launch env names whose values are never shown (config's redact_env).
  std::shared_ptr<const std::regex> redact_env;
  std::shared_ptr<OpenStreams> streams;
};

class ExecutorsService final : public v1::Executors::CallbackService {
 public:
  // Registers every method so that a request that is not valid protobuf gets INVALID_ARGUMENT
  // (request_parsing.h).
  explicit ExecutorsService(ServiceContext context);

  grpc::ServerUnaryReactor* RegisterApplication(grpc::CallbackServerContext* ctx,
                                                const v1::RegisterApplicationRequest* request,
                                                v1::Application* response) override;
  grpc::ServerUnaryReactor* RequestTotalExecutors(grpc::CallbackServerContext* ctx,
                                                  const v1::RequestTotalExecutorsRequest* request,
                                                  v1::RequestTotalExecutorsResponse* response) override;
  grpc::ServerUnaryReactor* KillExecutors(grpc::CallbackServerContext* ctx,
                                          const v1::KillExecutorsRequest* request,
                                          v1::KillExecutorsResponse* response) override;
  grpc::ServerUnaryReactor* DecommissionExecutors(grpc::CallbackServerContext* ctx,
                                                  const v1::DecommissionExecutorsRequest* request,
                                                  v1::DecommissionExecutorsResponse* response) override;
  grpc::ServerUnaryReactor* GetApplication(grpc::CallbackServerContext* ctx,
                                           const v1::GetApplicationRequest* request,
                                           v1::Application* response) override;
  grpc::ServerUnaryReactor* ListExecutors(grpc::CallbackServerContext* ctx,
                                          const v1::ListExecutorsRequest* request,
                                          v1::ListExecutorsResponse* response) override;
  grpc::ServerWriteReactor<v1::Event>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchEventsRequest* request) override;
  grpc::ServerUnaryReactor* KeepAlive(grpc::CallbackServerContext* ctx, const v1::KeepAliveRequest* request,
                                      v1::KeepAliveResponse* response) override;
  grpc::ServerUnaryReactor* UnregisterApplication(grpc::CallbackServerContext* ctx,
                                                  const v1::UnregisterApplicationRequest* request,
                                                  v1::UnregisterApplicationResponse* response) override;

 private:
  ServiceContext context_;
};

class AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(ServiceContext context);  // as ExecutorsService's

  grpc::ServerUnaryReactor* ListPools(grpc::CallbackServerContext* ctx, const v1::ListPoolsRequest* request,
                                      v1::ListPoolsResponse* response) override;
  grpc::ServerUnaryReactor* ListApplications(grpc::CallbackServerContext* ctx,
                                             const v1::ListApplicationsRequest* request,
                                             v1::ListApplicationsResponse* response) override;
  grpc::ServerUnaryReactor* DrainPool(grpc::CallbackServerContext* ctx, const v1::DrainPoolRequest* request,
                                      v1::DrainPoolResponse* response) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest* request,
                                   v1::StatusResponse* response) override;

 private:
  ServiceContext context_;
};

grpc::Status to_grpc(const berth::Status& status);

}  // namespace berth
