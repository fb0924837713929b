#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang into build/fuzz and runs each for SECONDS (default 30) under
# ctest, seeded from the readers' fixtures and tests/fuzz/corpus. A target that finds a crash, a sanitizer report,
# an exception other than descent::Error, a hang or an allocation past 2 GB fails; libFuzzer leaves the input as
# crash-*/oom-*/timeout-* in build/fuzz/fuzz. Longer runs: docs/reliability.md.
#   scripts/fuzz.sh [SECONDS]
# The body is one function so bash has read all of it before it runs.
set -euo pipefail

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local seconds="${1:-30}"
  local jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
  if ! command -v clang++ >/dev/null; then
    echo "[fuzz] clang++ is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
  echo "[fuzz] configuring build/fuzz (clang, libFuzzer + ASan + UBSan)"
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
    -DDESCENT_FUZZ=ON -DDESCENT_FUZZ_SECONDS="$seconds" -DDESCENT_BUILD_TESTS=OFF -DDESCENT_BUILD_BENCH=OFF \
    -DDESCENT_BUILD_EXAMPLES=OFF -DDESCENT_BUILD_CLI=OFF
  echo "[fuzz] building with $jobs jobs"
  cmake --build build/fuzz --parallel "$jobs"
  echo "[fuzz] running each target for ${seconds}s"
  ctest --test-dir build/fuzz --output-on-failure --no-tests=error --parallel "$jobs"
}

main "$@"
exit
