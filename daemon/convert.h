#pragma once
// Conversions between the berth.v1 protobuf messages and core's types. Pure functions; the only
// place that knows both vocabularies.

#include <map>
#include <regex>

#include "berth/v1/berth.pb.h"
#include "core/engine.h"
#include "core/types.h"

namespace berth {

void to_proto(Timestamp t, google::protobuf::Timestamp* out);
void to_proto(const ResourceProfile& profile, v1::ResourceProfile* out);
void to_proto(const Executor& executor, v1::Executor* out);
void to_proto(const Application& app,
              const std::map<ProfileId, std::map<ExecutorState, std::int32_t>>& counts,
              v1::Application* out);
void to_proto(const PoolStatus& pool, v1::Pool* out);
// Replaces the values of launch env variables whose names match `secret` with "<redacted>".
void redact_env(const std::regex& secret, v1::Application* out);
v1::ExecutorState to_proto(ExecutorState state);
ExecutorState from_proto(v1::ExecutorState state);  // valid (non-UNSPECIFIED) values only

// RegisterApplicationRequest -> AppSpec; fields are assumed validated (see validate.h).
AppSpec from_proto(const v1::RegisterApplicationRequest& request);

}  // namespace berth
