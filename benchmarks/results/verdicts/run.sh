#!/bin/sh
# The verdict reruns of issue 24, in resumable queues (rerunning a queue skips finished cells).
# Usage (from the repository root):
#   [PY=python] [DOMAINS="raw"] [SEEDS_A=20] [SEEDS_B=20] sh benchmarks/results/verdicts/run.sh A|B|B2|E RUNS_DIR
# The runs were made in phases of growing seed counts (5, 10, 20: seeds 0..N-1, resumed), both pool
# draws per phase; each run's manifest (manifests/) records the command and the seeds it finished.
# Then: python -m benchmarks.verdicts export RUNS_DIR/*   (this folder's results.csv and manifests/)
#       python -m benchmarks.verdicts tables               (docs/_generated/verdicts*.md)
set -e
Q=$1
R=${2:-runs/verdicts}
PY=${PY:-python}
DOMAINS=${DOMAINS:-raw}
SEEDS_A=${SEEDS_A:-20}
SEEDS_B=${SEEDS_B:-20}
PROBES3="--frameworks linear_probe logistic_regression --probe-normalize l2 standard"
PROBES2="--frameworks linear_probe logistic_regression"
COMMON="--preset fashion --budgets 1 3 6 --train-limit 60000 --test-limit 10000 --no-norm-correlation --no-frechet --no-plots --no-progress"
if [ "$Q" = A ]; then
  # norm vs random, GS vs norm, and the probe's normalization: pools of 20,000 (the first 20,000
  # training images, and a random 20,000 of the 60,000), 20 seeds, three probes
  for dom in $DOMAINS; do
    for draw in first 1; do
      $PY -m benchmarks $COMMON $PROBES3 --seeds "$SEEDS_A" --domains $dom --strategies random feature_norm gram_schmidt \
        --pool-size 20000 --pool-draw $draw --out "$R/A-fashion-$dom-20000-$draw"
    done
  done
fi
if [ "$Q" = E ]; then
  # EfficientNet-Lite0 features, one draw: the first 20,000 training images as the pool (the feature
  # cache's prefix: extracting all 60,000 for a random draw did not fit the session)
  $PY -m benchmarks $COMMON $PROBES3 --seeds "$SEEDS_A" --domains efficientnet_lite0 \
    --strategies random feature_norm gram_schmidt --train-limit 20000 --out "$R/E-fashion-efficientnet_lite0-first20000"
fi
if [ "$Q" = B2 ]; then
  # ProbCover, its combination with Gram-Schmidt and typiclust_norm on the pools of queue B (the
  # verdicts pair them with queue B's rows of the same pool draw and seed)
  for dom in $DOMAINS; do
    for draw in first 1; do
      $PY -m benchmarks $COMMON $PROBES2 --seeds "$SEEDS_B" --domains $dom \
        --budgets 1 3 --strategies probcover probcover_then_gs typiclust_norm \
        --pool-size 1000 --pool-draw $draw --out "$R/B2-fashion-$dom-1000-$draw"
    done
  done
fi
if [ "$Q" = B ]; then
  # restart vs fill past the rank: digits raw pixels (rank 60), budgets 80-240, 20 seeds
  $PY -m benchmarks --preset quick --seeds 20 --budgets 8 12 16 24 $PROBES3 --no-norm-correlation \
    --no-frechet --no-plots --no-progress --strategies random gram_schmidt:exhausted=norm \
    gram_schmidt:exhausted=restart --out "$R/B-digits-raw-restart"
  # TypiClust, its combination with the norm and its GS variant: pools of 1,000, the first 1,000
  # and a random 1,000 of the 60,000, budgets 10 and 30. TypiClust's k-means cost 30-45 s per
  # selection on a pool of 20,000 and 15-30 s on 1,000 on this (shared, loaded) machine; ProbCover
  # and typiclust_norm: queue B2.
  for dom in $DOMAINS; do
    for draw in first 1; do
      $PY -m benchmarks $COMMON $PROBES2 --seeds "$SEEDS_B" --domains $dom \
        --budgets 1 3 --strategies random typiclust typiclust_then_norm typiclust_gs \
        --pool-size 1000 --pool-draw $draw --out "$R/B-fashion-$dom-1000-$draw"
    done
  done
fi
