#!/usr/bin/env bash
# Checks descent's installed package: installs build/release into a temporary prefix, then configures, builds
# and runs tests/package (a separate CMake project that does find_package(descent)) against that prefix only.
# Needs a finished release build (scripts/build.sh release). Leaves nothing behind.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

if [[ ! -f build/release/cmake_install.cmake ]]; then
  echo "[package] build/release is not configured; run scripts/build.sh release first" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/descent-package.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "[package] installing build/release into $tmp/prefix"
cmake --install build/release --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log" >&2; exit 1; }

echo "[package] configuring tests/package against it"
cmake -S "$root/tests/package" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
cmake --build "$tmp/build" --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

echo "[package] running the consumer"
"$tmp/build/descent_consumer"
echo "[package] find_package(descent) works"
