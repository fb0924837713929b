#!/usr/bin/env bash
# Configures and builds descent with CMake + Ninja.
#   scripts/build.sh [release|asan]    (default: release)
#   release -> build/release: CMAKE_BUILD_TYPE=Release, tests, benchmarks and examples.
#   asan    -> build/asan:    AddressSanitizer + UndefinedBehaviorSanitizer (DESCENT_SANITIZE=ON) at -O1 with
#                             assertions on (Debug with -O1 instead of -O0 keeps the test run fast); no benchmarks.
# ccache is used through CMAKE_CXX_COMPILER_LAUNCHER when installed (the top-level CMakeLists sets it).
# Parallelism: CMAKE_BUILD_PARALLEL_LEVEL if set, else nproc. Extra arguments go to the configure step.
# The body is one function so bash has read all of it before it runs: editing this file mid-build is safe.
set -euo pipefail

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."

  local preset="${1:-release}"
  if (($# > 0)); then shift; fi

  local build_dir options
  case "$preset" in
    release)
      build_dir=build/release
      options=(-DCMAKE_BUILD_TYPE=Release -DDESCENT_SANITIZE=OFF)
      ;;
    asan)
      build_dir=build/asan
      options=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" -DDESCENT_SANITIZE=ON
               -DDESCENT_BUILD_BENCH=OFF)
      ;;
    *)
      echo "usage: scripts/build.sh [release|asan] [extra cmake configure arguments]" >&2
      exit 2
      ;;
  esac

  local jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
  # Let ccache share results between checkouts (a fresh CI clone reuses what an earlier build compiled):
  # paths are hashed relative to the repository, and the working directory is not hashed for -g builds.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"

  echo "[build] configuring $preset in $build_dir"
  cmake -S . -B "$build_dir" -G Ninja "${options[@]}" "$@"
  echo "[build] building $preset with $jobs jobs"
  cmake --build "$build_dir" --parallel "$jobs"
  echo "[build] $preset built in $build_dir"
}

main "$@"
exit
