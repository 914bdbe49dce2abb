#pragma once
// KubernetesBackend: executors as Pods in one namespace of one cluster, reached over HTTPS with
// keep-alive pooling (net::HttpClient) under a client-side QPS/burst limiter shared by every
// request of the pool.
//
// Observation is informer style: one LIST + WATCH per pool, filtered by this daemon's and this
// pool's labels; the watch resumes from the last resourceVersion seen, relists on 410 (HTTP 410
// or an ERROR event), rewatches on a clean end. Pods that disappear between lists are reported as
// deleted. on_health reports the pool unavailable while the API server cannot be listed or
// watched, and OK once it can. Core's own list() (start-up and periodic resync) is a fresh LIST
// of every Berth-labelled pod of the pool, of any daemon id.
//
// Launch POSTs the pod (pod_spec.h, fieldManager=berth) at once, limited only by the token bucket: 201 OK,
// 409 kAlreadyExists (adoption), 422/400 kInvalidArgument, 403 quota kResourceExhausted, other
// 403 kPermissionDenied, 401 kUnauthenticated (after re-reading a token file and trying once
// more), 429/5xx/transport kUnavailable (retryable). A 429's Retry-After pauses the limiter for
// the whole pool (plus jitter), so core's retries wait at least that long.
//
// Kill DELETEs with gracePeriodSeconds (core's grace, or delete_grace_period when core wants it
// at once); 404 kNotFound. Pods that ended are deleted after their end is reported, unless
// delete_terminated_pods is false. Pods without Berth's labels are never listed or touched.
//
// Time and jitter come from the TimeSource given (adapters/common/time_source.h).
//
// Thread-safety: not thread-safe. Every method must be called on the executor given at
// construction (core's strand); completions and BackendSink calls run on it, never inside the
// call. stop() and the destructor end the watch; pods keep running.

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "adapters/common/time_source.h"
#include "adapters/kubernetes/kubernetes_config.h"
#include "core/backend.h"

namespace berth {

class KubernetesBackend final : public Backend {
 public:
  KubernetesBackend(boost::asio::any_io_executor strand, PoolName pool, KubernetesPoolConfig config,
                    std::string daemon_id, adapters::TimeSource time = adapters::real_time_source());
  ~KubernetesBackend() override;
  KubernetesBackend(const KubernetesBackend&) = delete;
  KubernetesBackend& operator=(const KubernetesBackend&) = delete;

  std::string type() const override { return "kubernetes"; }
  BackendCapabilities capabilities() const override { return {.decommission = false, .kill_app = true}; }

  void start(BackendSink* sink) override;
  void stop() override;
  void launch(const LaunchRequest& request, Callback<Status> done) override;
  void kill(const KillRequest& request, Callback<Status> done) override;
  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override;

  // Deletes every pod of `app` that this daemon created in this pool, in one request
  // (deletecollection by label): what core asks when an application ends.
  void delete_app_pods(const AppId& app, Duration grace, Callback<Status> done);
  void kill_app(const AppId& app, Duration grace, Callback<Status> done) override {
    delete_app_pods(app, grace, std::move(done));
  }

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

std::unique_ptr<Backend> make_kubernetes_backend(boost::asio::any_io_executor strand, PoolName pool,
                                                 KubernetesPoolConfig config, std::string daemon_id,
                                                 adapters::TimeSource time = adapters::real_time_source());

}  // namespace berth
