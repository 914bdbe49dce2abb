#!/usr/bin/env bash
# The unit's hardening: `systemd-analyze security --offline=true` scores it at most <limit>
# (lower is better; 10 is unprotected). Exit 77 (skipped) when systemd-analyze is absent.
#   systemd_security_test.sh <unit file> <limit>
set -euo pipefail
unit=$1
limit=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed"
  exit 77
fi
# The unit is read as a file: the check needs no running systemd.
report=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || {
  echo "$report"
  echo "FAIL: systemd-analyze security could not assess $unit"
  exit 1
}
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
if [[ -z $score ]]; then
  echo "$report"
  echo "FAIL: no overall exposure level in the report"
  exit 1
fi
# What is still exposed, for whoever reads the log.
grep '✗' <<<"$report" || true
echo "exposure: $score (limit $limit)"
if awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s > l) }'; then
  echo "FAIL: exposure $score is above $limit"
  exit 1
fi
