#!/usr/bin/env bash
# Writes berthctl's bash completion: the template (berthctl.in) with its @DATA@ line replaced by
# the command tree read from `berthctl [COMMAND...] --help` (CLI11's layout: an "Options:" and a
# "Subcommands:" section, entries indented by two spaces). Run at build time.
#
#   generate.sh <berthctl> <template> <output>
set -euo pipefail

berthctl=$1
template=$2
output=$3

# Entries of one section of a help text: the first field of every line indented by exactly two
# spaces, up to the next unindented line.
section() {
  awk -v want="$1" '
    /^[^ ]/ { in_section = ($0 == want ":") ; next }
    in_section && /^  [^ ]/ { print }'
}

data=$(mktemp)
trap 'rm -f "$data"' EXIT

# walk <path words...>: records the commands, options and value-taking options of one command.
walk() {
  local help
  help=$("$berthctl" "$@" --help)
  local key="berthctl${*:+ $*}"
  local commands=() options=()
  local line first
  while IFS= read -r line; do
    first=${line#  }
    first=${first%% *}
    commands+=("$first")
  done < <(section Subcommands <<<"$help")
  while IFS= read -r line; do
    first=${line#  }
    first=${first%% *}
    local names
    IFS=, read -r -a names <<<"$first"
    local rest=${line#  "$first"}
    local takes_value=0 choices=""
    # A value's type follows the names after one space (TEXT, INT, UINT, FLOAT, ... possibly with
    # choices or a default: TEXT:{table,json}, TEXT=127.0.0.1:7433); the description follows
    # the padding of the names column.
    if [[ $rest =~ ^\ [A-Z]+(:\{([^}]*)\})?([:=][^ ]*)?(\ |$) ]]; then
      takes_value=1
      choices=${BASH_REMATCH[2]//,/ }
    fi
    local name
    for name in "${names[@]}"; do
      [[ $name == -* ]] || continue
      options+=("$name")
      if ((takes_value)); then
        printf '_berthctl_takes_value[%q]=1\n' "$name" >>"$data"
        [[ -n $choices ]] && printf '_berthctl_choices[%q]=%q\n' "$name" "$choices" >>"$data"
      fi
    done
  done < <(section Options <<<"$help")
  printf '_berthctl_commands[%q]=%q\n' "$key" "${commands[*]}" >>"$data"
  printf '_berthctl_options[%q]=%q\n' "$key" "${options[*]}" >>"$data"
  local command
  for command in "${commands[@]}"; do
    walk "$@" "$command"
  done
}

walk
# One line per key: a value-taking option met in several commands is recorded once.
sorted=$(sort -u "$data")
{
  while IFS= read -r line; do
    if [[ $line == "@DATA@" ]]; then
      printf '%s\n' "$sorted"
    else
      printf '%s\n' "$line"
    fi
  done <"$template"
} >"$output.tmp"
mv "$output.tmp" "$output"
