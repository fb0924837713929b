#!/usr/bin/env bash
# The test command: installs the packages, builds Release and runs its tests, builds the ASan+UBSan variant
# and runs the tests again there, runs the libFuzzer targets for DESCENT_FUZZ_SECONDS each (default 20;
# scripts/fuzz.sh), runs the threaded kernels and the data loader under ThreadSanitizer (scripts/tsan.sh), then
# checks that an installed descent works from another CMake project.
# A stage whose build failed skips the stages that need it; the others still run. Prints one summary line
# per stage and exits non-zero if any stage failed. Needs no terminal (CI=true, no stdin).
# The body is one function so bash has read all of it before it runs: editing this file mid-run is safe.
set -euo pipefail

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  exec </dev/null

  jobs="${CTEST_PARALLEL_LEVEL:-$(nproc)}"
  # Sanitizer reports are fatal, with stack traces, and leaks count. Options already in the environment win.
  asan_env=(
    "ASAN_OPTIONS=halt_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    # OpenMPI's own process-lifetime allocations (the mpirun tests) are not descent's leaks.
    "LSAN_OPTIONS=suppressions=$PWD/tests/lsan_suppressions.txt:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  )
  ctest_args=(--output-on-failure --no-tests=error --timeout 600 --parallel "$jobs")

  summary=()
  failed=0
  start_all=$SECONDS

  # stage NAME COMMAND... : runs COMMAND, records "NAME: passed|FAILED (Ns)".
  stage() {
    local name="$1" start=$SECONDS rc=0
    shift
    echo
    echo "==== [test] $name: $*"
    "$@" || rc=$?
    local took=$((SECONDS - start))
    if ((rc == 0)); then
      summary+=("$(printf '%-22s passed  (%ds)' "$name" "$took")")
      return 0
    fi
    summary+=("$(printf '%-22s FAILED  (%ds, exit %d)' "$name" "$took" "$rc")")
    failed=1
    return 1
  }

  skip() {
    summary+=("$(printf '%-22s skipped (%s)' "$1" "$2")")
    failed=1
  }

  if stage setup scripts/setup.sh; then
    release_built=0
    if stage "build release" scripts/build.sh release; then
      release_built=1
      stage "ctest release" ctest --test-dir build/release "${ctest_args[@]}" || true
    else
      skip "ctest release" "release build failed"
    fi
    if stage "build asan" scripts/build.sh asan; then
      stage "ctest asan" env "${asan_env[@]}" ctest --test-dir build/asan "${ctest_args[@]}" || true
    else
      skip "ctest asan" "asan build failed"
    fi
    stage "fuzz" scripts/fuzz.sh "${DESCENT_FUZZ_SECONDS:-20}" || true
    stage "tsan" scripts/tsan.sh || true
    if ((release_built)); then
      stage "package consumer" scripts/check_package.sh || true
    else
      skip "package consumer" "release build failed"
    fi
  else
    skip "builds and tests" "setup failed"
  fi

  echo
  echo "==== [test] summary"
  printf '  %s\n' "${summary[@]}"
  if ((failed)); then
    echo "[test] FAILED after $((SECONDS - start_all))s"
    exit 1
  fi
  echo "[test] all stages passed in $((SECONDS - start_all))s"
}

main "$@"
exit
