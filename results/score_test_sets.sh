#!/usr/bin/env bash
# Scores one shipped checkpoint on every test set, once (after it was chosen on validation):
#   bash results/score_test_sets.sh checkpoints/NAME-SHA8.weights.h5 NAME
# Writes results/gladnet-NAME_{DICM,MEF,NPE,LOL-eval15}.{csv,json} and the printed tables to
# results/logs/, then prints the paired NIQE comparison with every baseline on DICM, MEF and
# NPE (results/compare_reports.py) and the brightness on the official samples.
set -euo pipefail
cd "$(dirname "$0")/.."
weights=$1
name=$2
shared=${SHARED:-../shared}
for set in DICM MEF NPE LOL-eval15; do
  python -m gladnet_tf.evaluate --method gladnet --weights "$weights" \
    --data "$shared/datasets/$set" --report "results/gladnet-${name}_$set" \
    > "results/logs/gladnet-${name}_$set.txt"
  tail -n 3 "results/logs/gladnet-${name}_$set.txt"
done
for set in DICM MEF NPE; do
  for baseline in msrcr lime dehz srie gamma none; do
    [ -f "results/${baseline}_$set.csv" ] || continue
    python results/compare_reports.py "results/gladnet-${name}_$set.csv" "results/${baseline}_$set.csv" \
      | sed -n 3,4p | sed "s/^/$set vs $baseline: /"
  done
done
python results/official_samples.py --weights "$weights"
