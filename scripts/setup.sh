#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages descent needs to build, test, benchmark and run its examples.
# Idempotent: when every package is already installed it touches neither apt nor the network, so a rerun is
# fast and works offline. Runs apt-get as root, through sudo otherwise; never asks a question.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build ccache pkg-config
  # library dependencies (liblapack-dev: the LAPACK interface Newton's Cholesky calls; OpenBLAS provides it)
  libopenblas-dev liblapack-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # data, CLI, oneDNN comparison, JSON, distributed training
  dataset-fashion-mnist libdnnl-dev libcli11-dev nlohmann-json3-dev openmpi-bin libopenmpi-dev
  # the test that renders descent compare's report.html in a headless browser
  chromium
  # the libFuzzer targets (scripts/fuzz.sh) and the ThreadSanitizer run (scripts/tsan.sh): clang, and its OpenMP
  # runtime with the Archer tool (libarcher.so) that tells ThreadSanitizer about OpenMP's synchronisation
  clang libomp-14-dev
)

log() { printf '[setup] %s\n' "$*"; }

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  log "dpkg-query not found: this script supports Debian and Ubuntu only." >&2
  log "Install these packages (or their equivalents) by hand: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages already installed; nothing to do"
  exit 0
fi

log "missing: ${missing[*]}"

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
  log "not root: using sudo"
else
  log "not root and sudo is not available; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0)

log "apt-get update"
"${APT[@]}" update
log "apt-get install ${missing[*]}"
"${APT[@]}" install --no-install-recommends "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
if ((${#still_missing[@]} > 0)); then
  log "failed to install: ${still_missing[*]}" >&2
  exit 1
fi
log "installed ${#missing[@]} package(s); all ${#PACKAGES[@]} present"
