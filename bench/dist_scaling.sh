#!/usr/bin/env bash
# dist_scaling.sh [DESCENT] [MPIRUN]: data-parallel training measured side by side in one run (docs/distributed.md).
# Trains the same model on Fashion-MNIST with 1 process (1 and 2 threads) and under mpirun with 2 and 4 ranks (1
# thread each; ZeRO-0 and ZeRO-1), and prints per run: the steady step time (the last epoch's ms/step, so start-up
# and the first epoch's warm-up are left out) and its ratio to one process with one thread, the share of the
# training time spent waiting for gradient communication that backward did not hide, and the optimizer state per
# rank. Then the allreduce bus bandwidth of descent's buckets against MPI's own (bench/dist_allreduce).
#   MODEL=mlp:1024,1024 EPOCHS=3 bench/dist_scaling.sh build/release/descent
set -euo pipefail
descent="${1:-build/release/descent}"
mpirun="${2:-mpirun}"
model="${MODEL:-mlp:512,512}" epochs="${EPOCHS:-3}" batch="${BATCH:-256}" limit="${LIMIT:-60000}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(train --model "$model" --optimizer adam --epochs "$epochs" --batch-size "$batch" --limit "$limit" --seed 1
      --verbose 2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run NAME COMMAND…: the log in $work/NAME.log
  local name="$1"
  shift
  "$@" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
}
step_ms() { grep -o '[0-9.]*ms/step' "$1" | tail -1 | tr -dc '0-9.'; }  # the last epoch's
field() { sed -n "s/.*$2/\1/p" "$1" | tail -1; }

echo "model $model, Adam, global batch $batch, $limit rows, $epochs epochs; $(nproc) cores"
run one_1t "$descent" "${args[@]}" --threads 1
run one_2t "$descent" "${args[@]}" --threads 2
for np in 2 4; do
  for z in 0 1; do
    run "np${np}_z$z" "$mpirun" --oversubscribe -np "$np" -x DESCENT_NUM_THREADS=1 "$descent" "${args[@]}" --threads 1 \
      --zero "$z"
  done
done
base=$(step_ms "$work/one_1t.log")
printf '%-26s %10s %9s %10s %12s %12s\n' run "ms/step" "speed-up" "exposed" "opt. state" "test acc."
for name in one_1t one_2t np2_z0 np2_z1 np4_z0 np4_z1; do
  log="$work/$name.log"
  ms=$(step_ms "$log")
  exposed=$(field "$log" '.* \([0-9.e-]*\)% of the training time.*')
  state=$(field "$log" '.*optimizer state on this rank: \([0-9.e+-]*\) MB.*')
  acc=$(field "$log" '.*test accuracy: \([0-9.]*\).*')
  case $name in
  one_1t) label="1 process, 1 thread" ;;
  one_2t) label="1 process, 2 threads" ;;
  *) label="mpirun -np ${name:2:1}, ZeRO-${name: -1}" ;;
  esac
  printf '%-26s %10s %9.2f %10s %12s %12s\n' "$label" "$ms" "$(awk -v a="$base" -v b="$ms" 'BEGIN { print a / b }')" \
    "${exposed:+$exposed%}" "${state:+$state MB}" "$acc"
done

allreduce="$(dirname "$descent")/bench/dist_allreduce"
if [[ -x $allreduce ]]; then
  for np in 2 4; do
    echo
    "$mpirun" --oversubscribe -np "$np" -x DESCENT_NUM_THREADS=1 "$allreduce"
  done
fi
