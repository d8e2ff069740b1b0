#!/usr/bin/env bash
# The modality study of the training milestone (README "Training"), on synthetic corpora:
#
#   1. two-branch vs audio-only vs video-only (training seed 1);
#   2. what modality dropout buys when a modality goes missing at test time: the same
#      two-branch model trained with modality dropout MDROP and without it, over SEEDS,
#      each scored with both modalities, with the video withheld and with the audio
#      withheld (the model sees zeros for it, SPEC §5). The cost of losing a modality is
#      "both" minus "withheld"; the table gives it per seed and its mean.
#
# Training corpus: `eri synth --clips 320 --seed 1` (224 train / 48 val / 48 test clips).
# Scores: mean PCC on its test split, and on a second corpus (`--clips 240 --seed 101`,
# all of it, other synthetic subjects) that no model has seen — 5× the clips, so less noise.
#
# Environment: EPOCHS (12), LR (5e-4), MDROP (0.5), SEEDS ("1 2 3"), ABLATION_OUT, ERI.
# About 2.5 minutes per model on 2 cores (8 models); models already in ABLATION_OUT are reused.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ERI=${ERI:-$REPO/.build/release/eri-cli}
OUT=${ABLATION_OUT:-$REPO/build/ablation}
EPOCHS=${EPOCHS:-12}
LR=${LR:-5e-4}
MDROP=${MDROP:-0.5}
SEEDS=${SEEDS:-1 2 3}
mkdir -p "$OUT"
# Always (re)synthesised: a few seconds, byte-identical for a seed (so the decode cache still
# hits), and an interrupted earlier run cannot leave a partial corpus behind.
"$ERI" synth --out "$OUT/data" --clips 320 --seed 1 >/dev/null
"$ERI" synth --out "$OUT/heldout" --clips 240 --seed 101 >/dev/null
train() { # NAME SEED ARGS…
    local name=$1 seed=$2; shift 2
    [ -f "$OUT/$name.eri" ] || "$ERI" train --preset dbn-small --data "$OUT/data" --epochs "$EPOCHS" --batch 8 --lr "$LR" --seed "$seed" \
        --out "$OUT/$name.eri" "$@" >"$OUT/$name.log" 2>&1
}
pcc() { # MODEL DATA SPLIT [--drop M]
    "$ERI" eval --model "$OUT/$1.eri" --data "$OUT/$2" --split "$3" --predictions "$OUT/$1.$2.$3${4:+-}${5:-}.csv" "${@:4}" |
        sed -n 's/.*mean PCC \([-0-9.]*\).*/\1/p'
}
# Prints: both, video withheld, audio withheld, and the two costs.
robustness() { # MODEL DATA SPLIT
    local b v a
    b=$(pcc "$1" "$2" "$3"); v=$(pcc "$1" "$2" "$3" --drop video); a=$(pcc "$1" "$2" "$3" --drop audio)
    awk -v b="$b" -v v="$v" -v a="$a" 'BEGIN { printf "%8.3f %8.3f %8.3f %8.3f %8.3f", b, v, a, b - v, b - a }'
}

train audio 1 --modality audio
train video 1 --modality video
for s in $SEEDS; do
    train "both-md$MDROP-s$s" "$s" --modality-dropout "$MDROP"
    train "both-md0-s$s" "$s" --modality-dropout 0
done

echo "1. Modalities (test split of the training corpus, seed 1, $EPOCHS epochs)"
printf '   %-28s %8s\n' "model" "mean PCC"
printf '   %-28s %8s\n' "two-branch (md $MDROP)" "$(pcc "both-md$MDROP-s1" data test)"
printf '   %-28s %8s\n' "two-branch (no md)" "$(pcc both-md0-s1 data test)"
printf '   %-28s %8s\n' "audio-only" "$(pcc audio data test)"
printf '   %-28s %8s\n' "video-only" "$(pcc video data test)"
echo
echo "2. Losing a modality at test time (mean PCC; cost = both - withheld)"
for where in "data test" "heldout all"; do
    set -- $where
    echo "   scored on: $([ "$1" = data ] && echo "test split of the training corpus (48 clips)" || echo "held-out corpus (240 clips)")"
    printf '   %-22s %4s %8s %8s %8s %8s %8s\n' "model" "seed" "both" "-video" "-audio" "cost v" "cost a"
    for m in "md$MDROP" md0; do
        rows=""
        for s in $SEEDS; do
            row=$(robustness "both-$m-s$s" "$1" "$2")
            printf '   %-22s %4s %s\n' "$([ "$m" = md0 ] && echo "no modality dropout" || echo "modality dropout $MDROP")" "$s" "$row"
            rows+="$row"$'\n'
        done
        printf '%s' "$rows" | awk -v name="$([ "$m" = md0 ] && echo "no modality dropout" || echo "modality dropout $MDROP")" \
            '{ for (i = 1; i <= 5; i++) s[i] += $i; n++ } END { printf "   %-22s %4s", name, "mean"; for (i = 1; i <= 5; i++) printf " %8.3f", s[i] / n; printf "\n" }'
    done
    echo
done
