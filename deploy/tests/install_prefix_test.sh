#!/usr/bin/env bash
# `cmake --install` with prefixes other than the package's /usr: the configuration follows
# GNUInstallDirs' sysconfdir for that prefix, the unit names the installed paths, and the
# simulators (component berth-sim) are installed only on request.
#   install_prefix_test.sh <build dir>
set -uo pipefail
build=$1
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# check <prefix> <configuration dir> <unit>
check() {
  local prefix=$1 config_dir=$2 unit=$3 root=$scratch/root${1//\//_}
  if ! DESTDIR=$root cmake --install "$build" --prefix "$prefix" --component berth >"$scratch/log" 2>&1; then
    cat "$scratch/log"
    fail "cmake --install --prefix $prefix"
    return
  fi
  [[ -f $root$config_dir/berthd.yaml ]] || fail "prefix $prefix: no $config_dir/berthd.yaml"
  [[ -f $root$unit ]] || { fail "prefix $prefix: no $unit"; return; }
  grep -qx "ExecStart=$prefix/bin/berthd --config $config_dir/berthd.yaml" "$root$unit" ||
    fail "prefix $prefix: $(grep ^ExecStart= "$root$unit")"
  [[ -x $root$prefix/bin/berthd && -x $root$prefix/bin/berth-local-exec && -x $root$prefix/bin/berthctl ]] ||
    fail "prefix $prefix: binaries missing from $prefix/bin"
  [[ -e $root$prefix/bin/berth-sim ]] && fail "prefix $prefix: berth-sim installed with the berth component"
  rm -rf "$root"
}
check /usr/local /usr/local/etc/berth /usr/local/lib/systemd/system/berthd.service
check /opt/berth /etc/opt/berth/berth /opt/berth/lib/systemd/system/berthd.service

# The whole default installation leaves the simulators and the packages' Debian files out.
root=$scratch/default
if DESTDIR=$root cmake --install "$build" --prefix /usr/local >"$scratch/log" 2>&1; then
  find "$root" -name 'berth-sim*' | grep -q . && fail "the default installation includes berth-sim: $(find "$root" -name 'berth-sim*')"
  [[ -e $root/usr/local/share/lintian ]] && fail "the default installation includes lintian overrides"
  [[ -f $root/usr/local/bin/berthd ]] || fail "the default installation has no berthd"
else
  cat "$scratch/log"
  fail "cmake --install --prefix /usr/local"
fi

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "install prefixes: ok"
