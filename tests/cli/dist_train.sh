#!/usr/bin/env bash
# dist_train.sh CASE MPIRUN DESCENT WORKDIR: `descent train` under mpirun (docs/distributed.md), on a small slice
# of Fashion-MNIST. Cases:
#   same_result       2 ranks end with the test loss and accuracy of one process (same global batch)
#   zero              --zero 1 ends where --zero 0 does, with half the optimizer state per rank
#   world_size        a checkpoint written by 2 ranks resumes with 1 and with 4 to the uninterrupted run's result
#   killed_rank       SIGKILL to rank 1 mid-training ends the whole job within 30 s, naming the rank
#   stuck_rank        SIGSTOP to rank 1: rank 0 gives up after DESCENT_DIST_TIMEOUT (3 s) and the job ends
#   model_mismatch    ranks started with different models stop at start-up with a message naming the rank
#   failing_rank      an error on rank 0 alone (its checkpoint directory cannot be created) ends every rank
set -uo pipefail
case="$1" mpirun="$2" descent="$3" work="$4"
rm -rf "$work" && mkdir -p "$work" || exit 1
mpi=("$mpirun" --oversubscribe -x DESCENT_NUM_THREADS=1)
export DESCENT_DIST_TIMEOUT="${DESCENT_DIST_TIMEOUT:-60}"
base=(train --optimizer adam --batch-size 64 --seed 3 --threads 1 --verbose 2)
run=("${base[@]}" --model mlp:32 --limit 3000)

fail() {
  echo "FAILED: $*"
  exit 1
}
# The "test loss" and "test accuracy" of a run's last line.
result() { sed -n 's/^test loss: \([0-9.]*\) - test accuracy: \([0-9.]*\).*/\1 \2/p' "$1"; }
close() {  # close "a b" "c d" tolerance: |a - c| and |b - d| within it
  awk -v x="$1" -v y="$2" -v tol="$3" 'BEGIN { split(x, a, " "); split(y, b, " ");
    if (a[1] == "" || b[1] == "") exit 1;
    for (i = 1; i <= 2; ++i) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > tol) exit 1 } }'
}
# Runs a command in the background and waits at most $1 seconds for it; the exit code, or 124 on timeout.
bounded() {
  local limit="$1"
  shift
  "$@" &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= limit * 10)); then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 124
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid"
}

case "$case" in
same_result)
  "$descent" "${run[@]}" --epochs 2 >"$work/one.log" 2>&1 || fail "one process: $(cat "$work/one.log")"
  "${mpi[@]}" -np 2 "$descent" "${run[@]}" --epochs 2 >"$work/two.log" 2>&1 || fail "2 ranks: $(cat "$work/two.log")"
  one=$(result "$work/one.log") two=$(result "$work/two.log")
  echo "one process: $one; 2 ranks: $two"
  grep -q "^Data parallel: 2 ranks" "$work/two.log" || fail "no data-parallel report: $(cat "$work/two.log")"
  [[ $(grep -c "^test loss" "$work/two.log") == 1 ]] || fail "rank 1 printed too"
  close "$one" "$two" 0.002 || fail "results differ"
  ;;
zero)
  for z in 0 1; do
    "${mpi[@]}" -np 2 "$descent" "${run[@]}" --epochs 2 --zero $z >"$work/zero$z.log" 2>&1 ||
      fail "--zero $z: $(cat "$work/zero$z.log")"
  done
  a=$(result "$work/zero0.log") b=$(result "$work/zero1.log")
  echo "--zero 0: $a; --zero 1: $b"
  close "$a" "$b" 0.002 || fail "results differ"
  state() { sed -n 's/.*optimizer state on this rank: \([0-9.]*\) MB.*/\1/p' "$1"; }
  s0=$(state "$work/zero0.log") s1=$(state "$work/zero1.log")
  echo "optimizer state per rank: $s0 MB, ZeRO-1 $s1 MB"
  awk -v a="$s0" -v b="$s1" 'BEGIN { r = b / a; exit !(r > 0.45 && r < 0.55) }' || fail "ZeRO-1 state is not half"
  ;;
world_size)
  "${mpi[@]}" -np 2 "$descent" "${run[@]}" --epochs 3 >"$work/uninterrupted.log" 2>&1 || fail "$(cat "$work/uninterrupted.log")"
  "${mpi[@]}" -np 2 "$descent" "${run[@]}" --epochs 1 --checkpoint "$work/ck" >"$work/first.log" 2>&1 ||
    fail "$(cat "$work/first.log")"
  cp -r "$work/ck" "$work/ck4"
  "$descent" "${run[@]}" --epochs 3 --resume "$work/ck" >"$work/on1.log" 2>&1 || fail "resume on 1: $(cat "$work/on1.log")"
  "${mpi[@]}" -np 4 "$descent" "${run[@]}" --epochs 3 --resume "$work/ck4" >"$work/on4.log" 2>&1 ||
    fail "resume on 4: $(cat "$work/on4.log")"
  u=$(result "$work/uninterrupted.log") r1=$(result "$work/on1.log") r4=$(result "$work/on4.log")
  echo "uninterrupted on 2: $u; resumed on 1: $r1; resumed on 4: $r4"
  grep -q "^Resuming from" "$work/on4.log" || fail "the 4-rank run did not resume"
  close "$u" "$r1" 0.002 && close "$u" "$r4" 0.002 || fail "results differ"
  ;;
killed_rank | stuck_rank)
  # A long run; once it trains, rank 1 is killed (or stopped), and the job must end within 30 s.
  if [[ $case == stuck_rank ]]; then export DESCENT_DIST_TIMEOUT=3 signal=STOP; else signal=KILL; fi
  "${mpi[@]}" -x DESCENT_DIST_TIMEOUT -np 2 "$descent" "${base[@]}" --model mlp:32 --limit 60000 --epochs 50 \
    >"$work/job.log" 2>&1 &
  job=$!
  for ((i = 0; i < 300; ++i)); do  # until training has begun
    grep -q "^Epoch 1/" "$work/job.log" 2>/dev/null && break
    sleep 0.1
  done
  victim=""
  for pid in $(pgrep -P "$job"); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$pid; fi
  done
  [[ -n $victim ]] || { kill -KILL "$job"; fail "rank 1's process not found: $(cat "$work/job.log")"; }
  start=$(date +%s%N)
  kill "-$signal" "$victim"
  waited=0
  while kill -0 "$job" 2>/dev/null && ((waited < 300)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$job" 2>/dev/null; then
    kill -KILL "$victim" "$job"
    fail "the job was still running 30 s after rank 1 got SIG$signal"
  fi
  wait "$job"
  rc=$?
  kill -KILL "$victim" 2>/dev/null
  echo "rank 1 got SIG$signal: the job ended after $((($(date +%s%N) - start) / 1000000)) ms with exit code $rc"
  ((rc != 0)) || fail "exit code 0"
  if [[ $case == stuck_rank ]]; then
    grep -q "rank 0.*did not complete within 3 s" "$work/job.log" || fail "no timeout message: $(cat "$work/job.log")"
  else
    grep -Eq "rank 1 .*(exited on signal 9|Killed)" "$work/job.log" || fail "no message naming rank 1: $(cat "$work/job.log")"
  fi
  ;;
model_mismatch)
  bounded 60 "${mpi[@]}" -np 1 "$descent" "${run[@]}" --epochs 1 : -np 1 "$descent" "${base[@]}" --model mlp:16 --limit 3000 --epochs 1 \
    >"$work/job.log" 2>&1
  rc=$?
  ((rc != 0 && rc != 124)) || fail "exit code $rc: $(cat "$work/job.log")"
  grep -q "the model (parameter names, shapes and dtypes) of rank 1 differs from rank 0's" "$work/job.log" ||
    fail "$(cat "$work/job.log")"
  echo "refused at start-up (exit $rc)"
  ;;
failing_rank)
  touch "$work/file"
  bounded 60 "${mpi[@]}" -np 1 "$descent" "${run[@]}" --epochs 2 --checkpoint "$work/file/ck" : -np 1 "$descent" "${run[@]}" \
    --epochs 2 >"$work/job.log" 2>&1
  rc=$?
  ((rc != 0 && rc != 124)) || fail "exit code $rc: $(cat "$work/job.log")"
  grep -q "rank 0 of 2: .*cannot create it" "$work/job.log" || fail "$(cat "$work/job.log")"
  echo "rank 0's error ended the job (exit $rc)"
  ;;
*) fail "unknown case '$case'" ;;
esac
