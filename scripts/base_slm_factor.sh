#!/usr/bin/env bash
# The base SLM as a factor of what varies: the committed study trains one toy SLM (seed = the study's seed).
# This queues one DVC experiment per other SLM seed (models.toy_slm.seed: weights' init and training stream;
# the problems, corpora's prompts and training budget stay), runs the queue one at a time, and tabulates the
# verdict and the Δs per base SLM beside the committed run with `qup compare`.
#
# usage: bash scripts/base_slm_factor.sh [SEED ...]     (default: 1 2; every experiment is the whole study)
set -euo pipefail
seeds=("${@:-1 2}")
read -r -a seeds <<< "${seeds[*]}"
names=()
for seed in "${seeds[@]}"; do
  name="base-slm-${seed}"
  dvc exp remove "$name" >/dev/null 2>&1 || true
  dvc exp run --queue -n "$name" -S "models.toy_slm.seed=${seed}"
  names+=("$name")
done
dvc queue start -j 1
# (not `dvc queue status | grep -q`: grep quits early, dvc gets SIGPIPE, and pipefail ends the wait)
while status=$(dvc queue status); grep -qE "Queued|Running" <<< "$status"; do sleep 30; done
echo "$status"
qup compare "$(git rev-parse --short HEAD)" "${names[@]}" --out reports/compare/base_slm
