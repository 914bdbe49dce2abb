#!/usr/bin/env bash
# Installs the Debian bookworm packages Berth builds and tests with. Idempotent: it only calls
# apt-get when a package is missing, so `make run` and `make test` stay fast on a ready machine.
set -euo pipefail

packages=(
  pkg-config cmake ninja-build ccache lld clang libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libspdlog-dev libfmt-dev catch2 libssl-dev libsqlite3-dev libsystemd-dev
  prometheus-cpp-dev libcli11-dev
  openssl procps
  # the Debian packages (cpack -G DEB, dpkg-shlibdeps), their man pages and their check
  dpkg-dev help2man lintian
  python3-kubernetes
  # clients: Java (grpc-java over netty, OpenSSL through netty-tcnative, JUnit 4) and Python
  openjdk-17-jdk-headless libgrpc-java libprotobuf-java protobuf-compiler-grpc-java-plugin
  libnetty-java libnetty-tcnative-java libnetty-tcnative-jni libperfmark-java libgoogle-gson-java
  libgeronimo-annotation-1.3-spec-java junit4
  python3-grpcio python3-protobuf python3-pytest python3-pip python3-setuptools
  # the status page's browser test (headless, through the DevTools protocol on a pipe)
  chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Slim bookworm images lack this directory, and the JDK's postinst fails without it.
$sudo mkdir -p /usr/share/man/man1
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
