#pragma once
// Requests that are not valid protobuf get INVALID_ARGUMENT, as every other malformed request.
//
// gRPC's callback handlers answer a request that fails to parse with UNIMPLEMENTED, which tells a
// client that the method does not exist. A service fixes that by re-registering each of its
// methods with a handler whose request type is Parsed<Request>: its parse never fails, it records
// the failure instead, and the handler answers INVALID_ARGUMENT naming the message type before
// the service's method sees the request.
//
// The handlers are gRPC's own (grpc::internal, as generated code uses them); only the request's
// parse is ours. Methods are found by name in the service's descriptor, so a method registered
// under the wrong index cannot happen silently.

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>

#include <functional>
#include <string>

namespace berth {

// A request as received: the message, or why its bytes are not one.
template <typename Message>
struct Parsed {
  Message message;
  bool malformed = false;
  std::string error;
};

// The INVALID_ARGUMENT a malformed request gets.
template <typename Message>
grpc::Status malformed_request_status(const Parsed<Message>& request) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "request: not a valid " + Message::descriptor()->full_name() + " message (" +
                          (request.error.empty() ? std::string("it does not parse") : request.error) + ")");
}

// The index gRPC registered `method` of `service` (a full name, "berth.v1.Executors") under:
// its position in the service's descriptor, which generated code follows.
inline int method_index(const std::string& service, const std::string& method) {
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  const auto* found = descriptor == nullptr ? nullptr : descriptor->FindMethodByName(method);
  GPR_ASSERT(found != nullptr);
  return found->index();
}

// A unary handler that answers malformed requests itself and passes the others to `handle`;
// `rejected` is told the method's malformed requests (for metrics).
template <typename Request, typename Response>
grpc::internal::MethodHandler* parsing_unary_handler(
    std::function<grpc::ServerUnaryReactor*(grpc::CallbackServerContext*, const Request*, Response*)> handle,
    std::function<void()> rejected) {
  return new grpc::internal::CallbackUnaryHandler<Parsed<Request>, Response>(
      [handle = std::move(handle), rejected = std::move(rejected)](
          grpc::CallbackServerContext* ctx, const Parsed<Request>* request, Response* response) {
        if (!request->malformed) return handle(ctx, &request->message, response);
        rejected();
        grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
        reactor->Finish(malformed_request_status(*request));
        return reactor;
      });
}

// The same for a server-streaming method.
template <typename Request, typename Response>
grpc::internal::MethodHandler* parsing_server_streaming_handler(
    std::function<grpc::ServerWriteReactor<Response>*(grpc::CallbackServerContext*, const Request*)> handle,
    std::function<void()> rejected) {
  // Ends the stream at once with the request's error.
  class Rejection final : public grpc::ServerWriteReactor<Response> {
   public:
    explicit Rejection(const grpc::Status& status) { this->Finish(status); }
    void OnDone() override { delete this; }
  };
  return new grpc::internal::CallbackServerStreamingHandler<Parsed<Request>, Response>(
      [handle = std::move(handle), rejected = std::move(rejected)](
          grpc::CallbackServerContext* ctx, const Parsed<Request>* request) -> grpc::ServerWriteReactor<Response>* {
        if (!request->malformed) return handle(ctx, &request->message);
        rejected();
        return new Rejection(malformed_request_status(*request));
      });
}

}  // namespace berth

namespace grpc {

// Parsing a Parsed<Message> succeeds whatever the bytes are; a failure is kept in the value.
template <typename Message>
class SerializationTraits<berth::Parsed<Message>, void> {
 public:
  static Status Deserialize(ByteBuffer* buffer, berth::Parsed<Message>* request) {
    Status status = SerializationTraits<Message>::Deserialize(buffer, &request->message);
    if (!status.ok()) {
      request->message.Clear();
      request->malformed = true;
      request->error = status.error_message();
    }
    return Status::OK;
  }
};

}  // namespace grpc
