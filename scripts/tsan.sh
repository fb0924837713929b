#!/usr/bin/env bash
# Builds tests/tsan_tests and the library layers it needs with clang and ThreadSanitizer into build/tsan (CMake
# option DESCENT_TSAN), and runs them with four threads under TSan, with LLVM's Archer tool telling TSan about
# OpenMP's barriers and locks. Any TSan report fails the run. What runs and why: docs/reliability.md.
#   scripts/tsan.sh
# TSAN_OPTIONS, ARCHER_OPTIONS and OMP_TOOL_LIBRARIES already in the environment win over the defaults below.
# The body is one function so bash has read all of it before it runs.
set -euo pipefail

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
  if ! command -v clang++ >/dev/null; then
    echo "[tsan] clang++ is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
  # Archer ships with clang's OpenMP runtime (Debian: libomp-14-dev, /usr/lib/llvm-14/lib/libarcher.so).
  local archer="${OMP_TOOL_LIBRARIES:-$(clang++ -print-file-name=libarcher.so)}"
  if [[ "$archer" != /* ]]; then
    archer="$(dirname "$(readlink -f "$(command -v clang++)")")/../lib/libarcher.so"
  fi
  if [[ ! -f "$archer" ]]; then
    echo "[tsan] LLVM's Archer (libarcher.so) is not installed (scripts/setup.sh installs libomp-14-dev)" >&2
    exit 1
  fi

  echo "[tsan] configuring build/tsan (clang, ThreadSanitizer)"
  CC=clang CXX=clang++ cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDESCENT_TSAN=ON \
    -DDESCENT_BUILD_TESTS=ON -DDESCENT_BUILD_BENCH=OFF -DDESCENT_BUILD_EXAMPLES=OFF -DDESCENT_BUILD_CLI=OFF
  echo "[tsan] building tsan_tests with $jobs jobs"
  cmake --build build/tsan --parallel "$jobs" --target tsan_tests

  # Every report is fatal. ignore_noninstrumented_modules: libomp itself is not instrumented, and Archer reports
  # its synchronisation instead (its own startup message asks for this option).
  echo "[tsan] running with 4 threads, Archer: $archer"
  env "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}" \
    "OMP_TOOL_LIBRARIES=$archer" "ARCHER_OPTIONS=${ARCHER_OPTIONS:-verbose=0}" DESCENT_NUM_THREADS=4 \
    ctest --test-dir build/tsan -L tsan --output-on-failure --no-tests=error --timeout 600 --parallel "$jobs"
}

main "$@"
exit
