#!/usr/bin/env bash
# The modality study of the training milestone, on a synthetic corpus of 320 clips (seed 1):
# two-branch vs audio-only vs video-only, and what modality dropout buys when a
# modality goes missing at test time. Prints a table (test-split mean PCC).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ERI=${ERI:-$REPO/.build/release/eri-cli}
OUT=${ABLATION_OUT:-$REPO/build/ablation-lr5e-4}
EPOCHS=${EPOCHS:-12}
LR=${LR:-5e-4}
mkdir -p "$OUT"
[ -f "$OUT/data/data_info.csv" ] || "$ERI" synth --out "$OUT/data" --clips 320 --seed 1
train() { # NAME ARGS…
    local name=$1; shift
    [ -f "$OUT/$name.eri" ] || "$ERI" train --preset dbn-small --data "$OUT/data" --epochs "$EPOCHS" --batch 8 --lr "$LR" --seed 1 \
        --out "$OUT/$name.eri" "$@" >"$OUT/$name.log" 2>&1
}
pcc() { # MODEL [--drop M]
    "$ERI" eval --model "$OUT/$1.eri" --data "$OUT/data" --split test --predictions "$OUT/$1.predictions.csv" "${@:2}" | sed -n 's/.*mean PCC \([-0-9.]*\).*/\1/p'
}
train both
train audio --modality audio
train video --modality video
train both-no-mdrop --modality-dropout 0
printf '%-34s %10s %14s %14s\n' "model (test mean PCC)" "both" "video missing" "audio missing"
printf '%-34s %10s %14s %14s\n' "two-branch, modality dropout 0.3" "$(pcc both)" "$(pcc both --drop video)" "$(pcc both --drop audio)"
printf '%-34s %10s %14s %14s\n' "two-branch, no modality dropout" "$(pcc both-no-mdrop)" "$(pcc both-no-mdrop --drop video)" "$(pcc both-no-mdrop --drop audio)"
printf '%-34s %10s\n' "audio-only" "$(pcc audio)"
printf '%-34s %10s\n' "video-only" "$(pcc video)"
