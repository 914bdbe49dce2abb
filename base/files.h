#pragma once
// Files berthd reads and creates. Everything it reads (its config, the tokens file, certificates
// and keys, backend credentials and templates, the local backend's records) goes through
// read_regular_file: only a regular file, and only up to a cap, so that a path naming a device, a
// FIFO or a directory, or a file of unexpected size, is an error naming the file rather than an
// endless read or a hang. What it creates that may hold state or secrets is private to its user
// whatever the process umask: directories 0700, files 0600.
//
// Free functions, safe to call from any thread.

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "base/status.h"

namespace berth {

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;

// Caps of what berthd reads (deploy/berthd.yaml repeats them where the keys are documented).
// YAML or JSON an operator writes: berthd.yaml, the tokens file, a kubeconfig, a pod template, a
// Nomad job template.
inline constexpr std::size_t kMaxConfigFileBytes = 1 * kMiB;
// One secret on its own: a token file, a Nomad ACL token, a Mesos secret, a service account's
// token or namespace.
inline constexpr std::size_t kMaxCredentialFileBytes = 64 * kKiB;
// PEM: a certificate chain, a private key, a CA bundle (the system bundle is about 200 KiB).
inline constexpr std::size_t kMaxPemFileBytes = 1 * kMiB;

// "1 MiB", "64 KiB", "100 bytes": a cap as error messages show it.
std::string format_byte_count(std::size_t bytes);

// The whole content of the regular file `path` (symbolic links are followed), at most
// `max_bytes` of it. Never blocks on a FIFO and never reads more than max_bytes + 1 bytes, so a
// file that grows while it is read is refused too. `what` ("pod template", "token_file") labels
// the messages, which read "cannot read <what> <path>: <why>":
//   kNotFound          the file does not exist ("No such file or directory")
//   kPermissionDenied  it may not be opened
//   kInvalidArgument   it is not a regular file ("not a regular file (a character device)") or is
//                      larger than the cap ("larger than 1 MiB")
//   kUnavailable       any other error from open or read
StatusOr<std::string> read_regular_file(const std::string& path, std::size_t max_bytes,
                                        const std::string& what = "");

// Creates the directory `path` with mode 0700, and its missing parents likewise; directories that
// exist keep their mode. kUnavailable naming the directory that could not be created.
Status create_private_directories(const std::string& path);

// Opens `path` with `flags` (O_RDWR, O_WRONLY | O_APPEND ...; O_CLOEXEC is added), creating it
// first when it does not exist with exactly `mode`: the mode is set again after creation, so the
// umask neither widens nor narrows it. An existing file is opened as it is, its mode unchanged.
// Returns the descriptor; kUnavailable naming the file and the error otherwise.
StatusOr<int> open_or_create(const std::string& path, int flags, mode_t mode);

}  // namespace berth
