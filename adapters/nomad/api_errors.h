#pragma once
// Nomad HTTP responses to Berth Status values. Nomad's errors are plain text; the HTTP code says
// most of it, and for 500 (which Nomad uses for everything from a job that fails validation to a
// lost leader) the text tells a spec error from an unavailable cluster.
//
// Pure; thread-safe.

#include <string>

#include "base/status.h"
#include "net/http.h"

namespace berth::nomad {

// `what` names the operation and object ("register job X in namespace Y"). 2xx = OK;
// 400 kInvalidArgument; 403 kPermissionDenied (not retried until the token changes);
// 404 kNotFound; 405 kInternal; 429 kUnavailable (the per-client connection limit);
// 500 with a validation error kInvalidArgument, with "job already exists" (create-only
// registration) kAlreadyExists, anything else on a 5xx kUnavailable (no leader, no path to the
// region, an overloaded server); other codes kInternal. The message quotes Nomad's text.
Status status_of(const net::HttpResponse& response, const std::string& what);

// Nomad's error text, trimmed and with its multi-error list flattened to one line.
std::string error_text(const std::string& body);

}  // namespace berth::nomad
