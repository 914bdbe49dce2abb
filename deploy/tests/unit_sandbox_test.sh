#!/usr/bin/env bash
# berthd and its local executors work under the unit's system-call filter and socket families
# (SystemCallFilter=, SystemCallErrorNumber=, RestrictAddressFamilies=, NoNewPrivileges=),
# applied by unit_seccomp.py without systemd: berthd starts, launches a shell executor and (when
# java is installed) a JVM, kills an executor, stops, and adopts the survivor when started again.
# With the run-as drop-in, a local pool with run_as is checked too (as root): refused under the
# unit alone, working under the unit and the drop-in.
# The unit's other settings (user and mount namespaces, /proc options) need systemd and are
# not exercised here. Exit 77 (skipped) without systemd-analyze or libseccomp.
#   unit_sandbox_test.sh <unit file> <berthd> <berthctl> [<run-as drop-in>]
set -uo pipefail
unit=$1
berthd=$2
berthctl=$3
dropin=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3

if ! command -v systemd-analyze >/dev/null || ! "$python" -c 'import ctypes.util, sys; sys.exit(ctypes.util.find_library("seccomp") is None)'; then
  echo "SKIP: needs systemd-analyze and libseccomp"
  exit 77
fi

scratch=$(mktemp -d)
daemon_pid=""
cleanup() {
  [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  # Executors left by a failure: their supervisors are in process groups of their own.
  for pidfile in "$scratch"/state*/local/local/*/pid; do
    [[ -f $pidfile ]] && kill -KILL -- "-$(cut -d' ' -f1 "$pidfile")" 2>/dev/null
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

# write_config <file> <state dir> <local pool settings>
write_config() {
  cat >"$1" <<YAML
state_dir: $2
listen: unix:$scratch/berthd.sock
metrics_listen: ""
pools:
  - name: local
    type: local
    local: {$3, inherit_env: [PATH, LANG, JAVA_HOME]}
YAML
}

allow_root=false
[[ $(id -u) == 0 ]] && allow_root=true
config=$scratch/berthd.yaml
state_dir=$scratch/state
unit_in_use=$unit
write_config "$config" "$state_dir" "allow_root: $allow_root"

ctl() { "$berthctl" --addr "unix:$scratch/berthd.sock" "$@"; }

fail() {
  echo "FAIL: $*"
  echo "--- berthd log"
  cat "$scratch/berthd.log"
  exit 1
}

start_daemon() {
  "$python" "$here/unit_seccomp.py" "$unit_in_use" "$berthd" --config "$config" >>"$scratch/berthd.log" 2>&1 &
  daemon_pid=$!
  local deadline=$((SECONDS + 30))
  until ctl health >/dev/null 2>&1; do
    kill -0 "$daemon_pid" 2>/dev/null || fail "berthd exited under the filter"
    ((SECONDS < deadline)) || fail "berthd did not serve within 30 s"
    sleep 0.1
  done
  grep -q '^Seccomp:[[:space:]]*2' "/proc/$daemon_pid/status" || fail "berthd runs without the filter"
}

stop_daemon() {
  kill -TERM "$daemon_pid"
  wait "$daemon_pid"
  local status=$?
  daemon_pid=""
  ((status == 0)) || fail "berthd exited with $status on SIGTERM"
}

# wait_state <app> <executor id> <state>[|<state>...]
wait_state() {
  local deadline=$((SECONDS + 60))
  until ctl -o json executors "$1" | "$python" -c '
import json, sys
executors = json.load(sys.stdin)
executors = executors.get("executors", executors) if isinstance(executors, dict) else executors
sys.exit(0 if any(str(e.get("executorId")) == sys.argv[1] and e.get("state") in sys.argv[2].split("|")
                  for e in executors) else 1)' "$2" "$3"; do
    ((SECONDS < deadline)) || fail "executor $2 of $1 did not reach $3: $(ctl executors "$1")"
    sleep 0.2
  done
}

# wait_ended <backend name>: its supervisor recorded the executor's end (the process is gone).
wait_ended() {
  local deadline=$((SECONDS + 60))
  until [[ -f $state_dir/local/local/$1/exit ]]; do
    ((SECONDS < deadline)) || fail "executor $1 still runs: no exit record"
    sleep 0.2
  done
}

start_daemon
ctl app register shell --cores 1 --memory 64 -- /bin/sh -c 'echo "executor $SPARK_EXECUTOR_ID"; exec sleep 300' >/dev/null ||
  fail "app register"
ctl target shell 2 >/dev/null || fail "target"
wait_state shell 1 RUNNING
wait_state shell 2 RUNNING
ctl kill shell 2 >/dev/null || fail "kill"
wait_state shell 2 KILLED
wait_ended berth-shell-exec-2

if command -v java >/dev/null; then
  ctl app register jvm --cores 1 --memory 256 -- java -Xmx64m -version >/dev/null || fail "app register jvm"
  ctl target jvm 1 >/dev/null || fail "target jvm"
  wait_state jvm 1 SUCCEEDED
  grep -q 'version' "$state_dir"/local/local/berth-jvm-exec-1/executor.log ||
    fail "the JVM executor printed no version: $(cat "$state_dir"/local/local/berth-jvm-exec-1/executor.log)"
else
  echo "java is not installed: no JVM executor"
fi

# A stop leaves the executor running; the next start adopts it.
stop_daemon
start_daemon
wait_state shell 1 RUNNING
ctl app unregister shell >/dev/null || fail "app unregister"
wait_state shell 1 KILLED
wait_ended berth-shell-exec-1
stop_daemon
echo "berthd under the unit's system-call filter: ok"

# run_as needs root here (berthd holds the drop-in's capabilities then) and the user nobody.
if [[ -z $dropin || $(id -u) != 0 ]] || ! id nobody >/dev/null 2>&1; then
  echo "run_as: not checked (needs root, the drop-in and the user nobody)"
  exit 0
fi
config=$scratch/run-as.yaml
state_dir=$scratch/state-run-as
write_config "$config" "$state_dir" "run_as: nobody"

# The unit alone: no setuid, setgroups or chown, so the executor never runs.
start_daemon
ctl app register refused --cores 1 --memory 64 -- /bin/sh -c 'exec sleep 300' >/dev/null || fail "app register refused"
ctl target refused 1 >/dev/null || fail "target refused"
wait_state refused 1 "FAILED|LAUNCH_FAILED"
stop_daemon

# The unit with the drop-in (its [Service] section after the unit's, as systemd reads them).
unit_in_use=$scratch/with-run-as.service
cat "$unit" "$dropin" >"$unit_in_use"
start_daemon
ctl app register as-nobody --cores 1 --memory 64 -- /bin/sh -c 'echo "uid $(id -u)"; exec sleep 300' >/dev/null ||
  fail "app register as-nobody"
ctl target as-nobody 1 >/dev/null || fail "target as-nobody"
wait_state as-nobody 1 RUNNING
log=$state_dir/local/local/berth-as-nobody-exec-1/executor.log
deadline=$((SECONDS + 30))
until grep -q "^uid $(id -u nobody)$" "$log" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the executor does not run as nobody: $(cat "$log")"
  sleep 0.1
done
ctl app unregister as-nobody >/dev/null || fail "app unregister as-nobody"
wait_ended berth-as-nobody-exec-1
stop_daemon
echo "run_as under the unit and its drop-in: ok"
