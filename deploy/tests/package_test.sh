#!/usr/bin/env bash
# Builds the Debian packages from this build tree with CPack (the binaries are already built; CPack
# only installs, strips and archives them), unpacks each into a scratch root with dpkg-deb and
# checks what an installation would get: paths, modes, control files, stripped binaries, the
# simulators apart, then runs lintian (when installed) and fails on its errors and warnings.
#   package_test.sh <build dir> <version> <systemd unit dir>
set -uo pipefail
build=$1
version=$2
unitdir=$3

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

arch=$(dpkg --print-architecture)
if ! (cd "$build" && cpack -G DEB -B "$scratch/out" --config CPackConfig.cmake) >"$scratch/cpack.log" 2>&1; then
  cat "$scratch/cpack.log"
  echo "FAIL: cpack -G DEB"
  exit 1
fi
main=$scratch/out/berth_${version}-1_${arch}.deb
sim=$scratch/out/berth-sim_${version}-1_${arch}.deb
for deb in "$main" "$sim"; do
  if [[ ! -f $deb ]]; then
    ls -l "$scratch/out"
    echo "FAIL: no $(basename "$deb")"
    exit 1
  fi
  echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"
done

root=$scratch/root
sim_root=$scratch/sim-root
dpkg-deb -x "$main" "$root"
dpkg-deb -x "$sim" "$sim_root"
dpkg-deb -e "$main" "$scratch/control"
dpkg-deb -e "$sim" "$scratch/sim-control"

# mode <path in root> <expected octal mode>
mode() {
  local path=$1 want=$2
  if [[ ! -e $root$path ]]; then
    fail "$path is not in the package"
    return
  fi
  local got
  got=$(stat -c %a "$root$path")
  [[ $got == "$want" ]] || fail "$path has mode $got, expected $want"
}

mode /usr/bin/berthd 755
mode /usr/bin/berthctl 755
mode /usr/bin/berth-local-exec 755
mode "$unitdir/berthd.service" 644
mode /usr/lib/sysusers.d/berth.conf 644
mode /etc/berth/berthd.yaml 644
mode /usr/share/berth/systemd/run-as.conf 644
mode /usr/share/berth/kubernetes/rbac.yaml 644
mode /usr/share/berth/grafana/berth.json 644
mode /usr/share/doc/berth/examples/tokens.example.yaml 644
mode /usr/share/doc/berth/copyright 644
mode /usr/share/doc/berth/changelog.Debian.gz 644
mode /usr/share/man/man8/berthd.8.gz 644
mode /usr/share/man/man8/berth-local-exec.8.gz 644
mode /usr/share/man/man1/berthctl.1.gz 644
mode /usr/share/bash-completion/completions/berthctl 644
mode /usr/share/lintian/overrides/berth 644

# Nothing in the wrong place: no /usr/etc, /usr/local or build paths; the simulator and the Java
# jars are not in the main package.
listing=$(cd "$root" && find . -mindepth 1 -not -type d | sed 's/^\.//' | sort)
echo "berth contains:"
sed 's/^/  /' <<<"$listing"
grep -q '^/usr/etc' <<<"$listing" && fail "configuration under /usr/etc"
grep -q '^/usr/local' <<<"$listing" && fail "files under /usr/local"
grep -q 'berth-sim' <<<"$listing" && fail "berth-sim in the main package"
grep -q '\.jar$' <<<"$listing" && fail "jars in the main package"
unexpected=$(grep -v -E "^(/usr/bin/|/usr/share/|/usr/lib/sysusers.d/|/etc/berth/|$unitdir/)" <<<"$listing")
[[ -z $unexpected ]] || fail "unexpected files: $unexpected"

# No text file (man pages, completion, unit) mentions the build or source tree; man pages are
# compressed.
build_tree=$(cd "$build" && pwd)
source_tree=$(cd "$(dirname "$0")/../.." && pwd)
while IFS= read -r -d '' file; do
  if [[ $file == *.gz ]]; then
    zcat "$file" | grep -q -F -e "$build_tree" -e "$source_tree" && fail "${file#"$root"} names the build or source tree"
  else
    grep -q -I -F -e "$build_tree" -e "$source_tree" "$file" && fail "${file#"$root"} names the build or source tree"
  fi
done < <(find "$root" -type f -print0)
for page in "$root"/usr/share/man/man*/*; do
  [[ $page == *.gz ]] || fail "man page $page is not compressed"
done

# The unit names the installed binaries and configuration.
unit=$root$unitdir/berthd.service
grep -qx 'ExecStart=/usr/bin/berthd --config /etc/berth/berthd.yaml' "$unit" ||
  fail "ExecStart of the packaged unit: $(grep ^ExecStart= "$unit")"
grep -qx 'ExecStartPre=/usr/bin/berthd --check-config /etc/berth/berthd.yaml' "$unit" ||
  fail "ExecStartPre of the packaged unit: $(grep ^ExecStartPre= "$unit")"

# Its hardening is the one make test checks on the build's unit.
if command -v systemd-analyze >/dev/null; then
  bash "$(dirname "$0")/systemd_security_test.sh" "$unit" 2.0 | tail -1 || fail "hardening of the packaged unit"
fi

# Control files: the configuration is a conffile, maintainer scripts are executable, dependencies
# come from dpkg-shlibdeps.
grep -qx '/etc/berth/berthd.yaml' "$scratch/control/conffiles" || fail "berthd.yaml is not a conffile"
for script in postinst prerm postrm; do
  [[ -x $scratch/control/$script ]] || fail "maintainer script $script missing or not executable"
done
[[ $(stat -c %a "$scratch/control/conffiles") == 644 ]] || fail "conffiles is not 0644"
depends=$(sed -n 's/^Depends: //p' "$scratch/control/control")
echo "berth Depends: $depends"
grep -q 'libc6' <<<"$depends" || fail "no shared-library dependencies (dpkg-shlibdeps)"
grep -q 'systemd | systemd-standalone-sysusers' <<<"$depends" || fail "no dependency providing systemd-sysusers"
grep -q 'libc6' "$scratch/sim-control/control" || fail "berth-sim has no shared-library dependencies"

# The maintainer scripts are valid sh, and postinst (run against the scratch root, as dpkg does
# with DPKG_ROOT) creates the berth user from the packaged sysusers entry; systemctl is not
# called where systemd does not run.
for script in postinst prerm postrm; do
  sh -n "$scratch/control/$script" || fail "$script is not valid sh"
done
if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$root/etc"
  if DPKG_ROOT=$root sh "$scratch/control/postinst" configure >"$scratch/postinst.log" 2>&1; then
    grep -q '^berth:x:[0-9]*:[0-9]*:Berth daemon:/var/lib/berth:' "$root/etc/passwd" ||
      fail "postinst did not create the berth user: $(cat "$root/etc/passwd")"
    grep -q '^berth:x:' "$root/etc/group" || fail "postinst did not create the berth group"
  else
    cat "$scratch/postinst.log"
    fail "postinst configure failed"
  fi
fi

# Binaries are stripped (no symbol table, no debug information) and still run.
for binary in /usr/bin/berthd /usr/bin/berthctl /usr/bin/berth-local-exec; do
  [[ -f $root$binary ]] || continue
  if readelf -S "$root$binary" | grep -q -E '\.symtab|\.debug_info'; then
    fail "$binary is not stripped"
  fi
  echo "$binary: $(du -k "$root$binary" | cut -f1) KiB"
done
"$root/usr/bin/berthctl" --version >/dev/null || fail "the packaged berthctl does not run"
"$root/usr/bin/berthd" --check-config "$root/etc/berth/berthd.yaml" >/dev/null ||
  fail "the packaged berthd rejects the packaged configuration"

# The simulator's package: berth-sim and its man page, nothing of the main package.
[[ -x $sim_root/usr/bin/berth-sim ]] || fail "berth-sim is not in its package"
[[ -f $sim_root/usr/share/man/man1/berth-sim.1.gz ]] || fail "berth-sim has no man page"
[[ -f $sim_root/usr/share/doc/berth-sim/copyright ]] || fail "berth-sim has no copyright file"
[[ -e $sim_root/usr/bin/berthd ]] && fail "berthd in the berth-sim package"
readelf -S "$sim_root/usr/bin/berth-sim" | grep -q -E '\.symtab|\.debug_info' && fail "berth-sim is not stripped"

# lintian: errors and warnings fail the test; tags expected for a reason are overridden in the
# package (deploy/debian/*.lintian-overrides), and informational ones are shown.
if command -v lintian >/dev/null; then
  if ! lintian --display-info --fail-on error,warning "$main" "$sim"; then
    fail "lintian reports errors or warnings"
  fi
else
  echo "lintian is not installed (deploy/install-deps.sh installs it): not run"
fi

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "packages: ok"
