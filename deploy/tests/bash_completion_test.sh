#!/usr/bin/env bash
# berthctl's generated bash completion offers what `berthctl ... --help` lists.
#   bash_completion_test.sh <completion script> <berthctl>
set -uo pipefail
completion=$1
berthctl=$2
failures=0

bash -n "$completion" || { echo "FAIL: $completion is not valid bash"; exit 1; }
# shellcheck source=/dev/null
source "$completion"
complete -p berthctl >/dev/null || { echo "FAIL: no completion registered for berthctl"; exit 1; }

# completions <words...>: what the completion offers for the last word of the line.
completions() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _berthctl
  printf '%s\n' "${COMPREPLY[@]}" | sort
}

expect() {  # expect <description> <expected, space-separated> <words...>
  local description=$1 expected=$2
  shift 2
  local got
  got=$(completions "$@" | tr '\n' ' ' | sed 's/ $//')
  if [[ $got != "$expected" ]]; then
    echo "FAIL: $description: '$*' offers '$got', expected '$expected'"
    failures=$((failures + 1))
  fi
}

expect_includes() {  # expect_includes <description> <word> <words...>
  local description=$1 want=$2
  shift 2
  if ! completions "$@" | grep -qx -- "$want"; then
    echo "FAIL: $description: '$*' does not offer '$want'"
    failures=$((failures + 1))
  fi
}

# Every command berthctl lists is offered, at the top and under `app`.
subcommands() {
  "$berthctl" "$@" --help | awk '/^[^ ]/ { s = ($0 == "Subcommands:"); next } s && /^  [^ ]/ { print $1 }'
}
top=$(subcommands)
[[ -n $top ]] || { echo "FAIL: berthctl --help lists no subcommands"; exit 1; }
for command in $top; do
  expect_includes "top-level command" "$command" berthctl "${command:0:2}"
done
expect "every top-level command" "$(sort <<<"$top" | tr '\n' ' ' | sed 's/ $//')" berthctl ""
for command in $(subcommands app); do
  expect_includes "app subcommand" "$command" berthctl app ""
done
expect_includes "app register" register berthctl app reg

# Options: the command's own and the global ones; an option's value is skipped when finding the
# command; values of options that list them; nothing after `--`.
expect_includes "kill's own option" --force berthctl kill --f
expect_includes "a global option after the command" --addr berthctl kill --ad
expect_includes "a global option" --token-file berthctl --tok
expect_includes "command after an option and its value" apps berthctl --addr unix:/x ap
expect_includes "command after a flag (no value)" apps berthctl --tls ap
expect_includes "app subcommand after a flag" register berthctl --tls app reg
expect_includes "output format" table berthctl -o ""
expect_includes "output format" json berthctl --output ""
expect "nothing after --" "" berthctl app register demo -- ""

# A *-file option completes file names.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
touch "$scratch/token-one"
expect "token file" "$scratch/token-one" berthctl --token-file "$scratch/tok"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "berthctl completion: ok"
