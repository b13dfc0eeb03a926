#!/usr/bin/env bash
# The dose-response sweep over the style gap: how much Oracle-style text the toy SLM met in its own
# training (toy.oracle_share). Queues one DVC experiment per share, runs the queue one at a time, and
# draws utility gap against adaptation-cost gap with `qup compare`.
#
# usage: bash scripts/dose_response.sh [SHARE ...]     (default: 0 0.02 0.2; one training seed each)
set -euo pipefail
shares=("${@:-0 0.02 0.2}")
read -r -a shares <<< "${shares[*]}"
names=()
for share in "${shares[@]}"; do
  name="share-${share}"
  dvc exp run --queue -n "$name" -S "toy.oracle_share=${share}" -S 'train.seeds=[0]'
  names+=("$name")
done
dvc queue start -j 1
# (not `dvc queue status | grep -q`: grep quits early, dvc gets SIGPIPE, and pipefail ends the wait)
while status=$(dvc queue status); grep -qE "Queued|Running" <<< "$status"; do sleep 30; done
echo "$status"
qup compare "${names[@]}" --out reports/compare/oracle_share
