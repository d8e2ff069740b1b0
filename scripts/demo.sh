#!/usr/bin/env bash
# make demo: the whole job end to end on a synthetic corpus —
# synthesise clips, train a two-branch dbn-small with the staged recipe (an
# audio-only and a video-only model, then the two-branch model initialised from
# both: the best recipe of the held-out study, docs/training.md), evaluate it on
# the held-out test split, and predict a held-out clip with the CLI, the C
# example and Python.
# The corpus is procedural (see `eri synth --help`): a test bed for the
# pipeline, not a claim about real emotions. Its faces are drawn; liberi's
# face detector (MTCNN, SPEC §4.1a) finds most of them, and training, evaluation
# and prediction crop around what it finds (the centred square where it finds
# nothing): the summary reports how often it did.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-$REPO/.build/demo-prefix}
OUT=${DEMO_OUT:-$REPO/build/demo}
CLIPS=${DEMO_CLIPS:-320}
EPOCHS=${DEMO_EPOCHS:-12}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
ERI="$PREFIX/bin/eri"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

step() { printf '\n== %s\n' "$*"; }

step "install liberi into $PREFIX"
make --no-print-directory -C "$REPO" install PREFIX="$PREFIX" >/dev/null

step "synthesise $CLIPS clips into $OUT/data"
rm -rf "$OUT"
mkdir -p "$OUT"
"$ERI" synth --out "$OUT/data" --clips "$CLIPS" --seed 1

step "train a two-branch dbn-small, staged: audio-only, video-only, then both ($EPOCHS epochs; the video stage eri train's default, twice that)"
start=$(date +%s)
"$ERI" train --preset dbn-small --recipe staged --data "$OUT/data" --epochs "$EPOCHS" --batch 8 --lr 5e-4 --seed 1 --faces detect \
    --out "$OUT/model.eri"
echo "training took $(( $(date +%s) - start )) s (including decoding the clips once)"

step "evaluate on the held-out test split"
"$ERI" eval --model "$OUT/model.eri" --data "$OUT/data" --split test --predictions "$OUT/test-predictions.csv" | tee "$OUT/test.txt"
# A demo that did not learn must not pass for one (CI runs this script): chance is 0,
# this recipe reached 0.735 (seed 1; its audio-only and video-only stages 0.545 and 0.700).
MIN_PCC=${DEMO_MIN_PCC:-0.3}
test_pcc() { sed -n 's/^test: .*mean PCC \([-0-9.]*\).*/\1/p' "$1"; }   # the mean PCC line of eri eval's output
pcc=$(test_pcc "$OUT/test.txt")
awk -v p="$pcc" -v m="$MIN_PCC" 'BEGIN { exit !(p != "" && p + 0 >= m + 0) }' ||
    { echo "demo: test mean PCC '$pcc' is under $MIN_PCC: the model did not learn" >&2; exit 1; }

# The stages' single-branch models on the same test split: the two-branch model should beat both.
for m in audio video; do
    "$ERI" eval --model "$OUT/model.$m.eri" --data "$OUT/data" --split test --predictions "$OUT/test-predictions.$m.csv" >"$OUT/test.$m.txt"
    echo "$m-only stage: test mean PCC $(test_pcc "$OUT/test.$m.txt")"
done

video=$(ls "$OUT"/data/raw/test/mp4/*.mp4 | head -n 1)
id=$(basename "$video" .mp4)
# The corpus keeps each clip's voice in a WAV beside the MP4, as Hume-Reaction does;
# a real recording has both tracks in one file, so mux them for the prediction.
clip="$OUT/$id.mkv"
ffmpeg -nostdin -v error -y -i "$video" -i "$OUT/data/raw/test/wav/$id.wav" -c:v copy -c:a pcm_s16le "$clip"
step "predict a held-out clip: $id (H.264 video + its voice)"
echo "-- eri predict"
"$ERI" predict --model "$OUT/model.eri" "$clip"
echo "-- the C example (examples/c/predict_file.c)"
make --no-print-directory -C "$REPO/examples" BIN="$OUT/examples" >/dev/null
"$OUT/examples/predict_file" "$OUT/model.eri" "$clip"
echo "-- Python (the liberi package)"
ERI_LIBRARY="$PREFIX/lib/liberi.so" PYTHONPATH="$REPO/python" "$PYTHON" - "$OUT/model.eri" "$clip" "$OUT/clip-coverage.txt" <<'PY'
import sys, warnings, liberi
warnings.simplefilter("ignore", liberi.ReliabilityWarning)  # the demo model's warnings were printed above
result = liberi.Model(sys.argv[1]).predict_file(sys.argv[2])
for name, value in result["intensities"].items():
    print(f"{name:<14} {value:.3f}")
print(f"face coverage  {result['face_coverage']:.2f}")
with open(sys.argv[3], "w") as f:
    f.write(f"{result['face_coverage']:.2f}\n")
PY
echo "-- its labels in data_info.csv"
grep "\[$id\]" "$OUT/data/data_info.csv"

step "face coverage (liberi's MTCNN on the corpus's drawn faces)"
"$PYTHON" - "$OUT/model.eri" "$OUT/test.txt" "$OUT/clip-coverage.txt" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
faces = json.loads(meta["eri.provenance"]).get("faces", {})
print(f"training clips    {100 * faces.get('detection_rate', 0):.1f} % of {faces.get('frames', 0)} frames with a face "
      f"({faces.get('clips_without_face', 0)} clips without any), validation {100 * faces.get('val_detection_rate', 0):.1f} % "
      f"of {faces.get('val_frames', 0)}; {faces.get('preparation', 'box')} faces, {faces.get('mode')}")
test = [l for l in open(sys.argv[2]) if l.startswith("faces:")]
print("test split        " + (test[0][len("faces: "):].strip() if test else "(not reported)"))
print("held-out clip     face coverage " + open(sys.argv[3]).read().strip() + " (eri_predict_file)")
PY
step "done: model $OUT/model.eri, curves $OUT/model.eri.svg"
