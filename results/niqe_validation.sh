#!/usr/bin/env bash
# NIQE on the real validation inputs, the validation-side view of the issue's NIQE target:
#   bash results/niqe_validation.sh DATA_ROOT NAME WEIGHTS   # one GLADNet checkpoint
#   bash results/niqe_validation.sh DATA_ROOT BASELINE       # msrcr, srie, lime, dehz, gamma or none
# DATA_ROOT is where a recipe built val-lol20 and val-fivek100 (their low/ images are scored,
# without ground truth, so by NIQE, exactly as DICM, MEF and NPE are). Reports go to
# results/validation/niqe/NAME_{val-lol20,val-fivek100}.{csv,json} (NIQE_OUT sets another folder).
# With a checkpoint, the paired bootstrap against every baseline already scored there is printed
# (results/compare_reports.py). Validation splits are where checkpoints are chosen; the test
# sets' NIQE is still scored once per shipped checkpoint by results/score_test_sets.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
data_root=$1
name=$2
weights=${3:-}
out=${NIQE_OUT:-results/validation/niqe}
mkdir -p "$out"
baselines="msrcr srie lime dehz gamma none"
method=(--method "$name")
[ -z "$weights" ] || method=(--method gladnet --weights "$weights")
for set in val-lol20 val-fivek100; do
  python -m gladnet_tf.evaluate "${method[@]}" --data "$data_root/$set/low" --report "$out/${name}_$set" | tail -n 2
done
[ -n "$weights" ] || exit 0
for set in val-lol20 val-fivek100; do
  for baseline in $baselines; do
    [ -f "$out/${baseline}_$set.csv" ] || continue
    python results/compare_reports.py "$out/${name}_$set.csv" "$out/${baseline}_$set.csv" \
      | sed -n 3,4p | sed "s/^/$set vs $baseline: /"
  done
done
