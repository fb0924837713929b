#!/usr/bin/env bash
# resume_after_kill.sh DESCENT WORKDIR TRIALS [SEED]: kill-during-checkpoint trials.
# Trains a small Fashion-MNIST run once without interruption (the reference), then TRIALS times runs the same
# command writing a checkpoint after every step, kills it with SIGKILL at a random moment, and resumes it from the
# newest complete checkpoint (or starts it afresh when the kill came before the first one), killing it again
# while kills remain and the run has not finished. Every trial must end with weights byte-identical to the
# reference's. Prints how many kills landed while a checkpoint was being written (a .checkpoint-*.tmp left
# behind). Exit 0 when every trial matched.
set -uo pipefail
descent="$1" work="$2" trials="$3"
RANDOM="${4:-1}"
rm -rf "$work" && mkdir -p "$work" || exit 1
run=(train --model mlp:32 --optimizer adam --limit 2000 --epochs 3 --batch-size 64 --threads 1 --seed 3 --verbose 0)

start=$(date +%s%N)
"$descent" "${run[@]}" --save "$work/reference.safetensors" >"$work/reference.log" 2>&1 || {
  cat "$work/reference.log"
  exit 1
}
# The checkpointed run is slower than the reference (a checkpoint per step): kill within twice its time.
window_ms=$((($(date +%s%N) - start) / 500000))
echo "reference run: $((window_ms / 2)) ms"

failed=0 mid_write=0 kills=0
for ((t = 1; t <= trials; ++t)); do
  dir="$work/trial$t"
  mkdir -p "$dir"
  finished=0
  for ((attempt = 1; attempt <= 4; ++attempt)); do
    resume=()
    if compgen -G "$dir/ck/checkpoint-*/training.json" >/dev/null; then resume=(--resume "$dir/ck"); fi
    "$descent" "${run[@]}" --checkpoint "$dir/ck" --checkpoint-every 1 "${resume[@]}" --save "$dir/final.safetensors" \
      >"$dir/run$attempt.log" 2>&1 &
    pid=$!
    if ((attempt < 4)); then
      delay_ms=$((RANDOM % window_ms + 1))
      sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
      if kill -KILL "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        if compgen -G "$dir/ck/.checkpoint-*.tmp" >/dev/null; then mid_write=$((mid_write + 1)); fi
        continue
      fi
    fi
    if wait "$pid"; then
      finished=1
      break
    fi
    echo "trial $t: attempt $attempt failed:"
    cat "$dir/run$attempt.log"
    break
  done
  if ((finished)) && cmp -s "$work/reference.safetensors" "$dir/final.safetensors"; then
    echo "trial $t: identical after $((attempt - 1)) kill(s)"
  else
    echo "trial $t: FAILED (finished=$finished)"
    failed=1
  fi
done
echo "$trials trials, $kills kills, $mid_write of them while a checkpoint was being written"
exit $failed
