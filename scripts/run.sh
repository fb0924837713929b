#!/usr/bin/env bash
# The main job: installs the packages (scripts/setup.sh), builds Release (scripts/build.sh release), then runs
# the main program with any arguments given to this script.
set -euo pipefail

# The main job. To change it, change this one line.
MAIN_JOB=(build/release/descent train)

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  scripts/setup.sh
  scripts/build.sh release
  echo "[run] ${MAIN_JOB[*]} $*"
  exec "${MAIN_JOB[@]}" "$@"
}

main "$@"
exit
