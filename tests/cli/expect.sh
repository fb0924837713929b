#!/usr/bin/env bash
# expect.sh CODE PATTERN COMMAND…: runs COMMAND, passes when it exits with CODE and its output (stdout and stderr)
# matches the extended regular expression PATTERN.
code="$1" pattern="$2"
shift 2
out=$("$@" 2>&1)
rc=$?
if [[ $rc -ne $code ]]; then
  printf 'expected exit %s, got %s\n%s\n' "$code" "$rc" "$out"
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$out"; then
  printf 'output does not match /%s/:\n%s\n' "$pattern" "$out"
  exit 1
fi
