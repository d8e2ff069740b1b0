#!/usr/bin/env bash
# Builds liberi with coverage + AddressSanitizer and runs the libFuzzer harnesses (make fuzz).
#
#   bash Tests/fuzz/run.sh [HARNESS...]     (default: model media stream api)
#
# FUZZ_SECONDS (default 180) each; FUZZ_DIR (default .build-fuzz) holds the instrumented build,
# the harnesses, the seeds, the growing corpora (FUZZ_DIR/corpus/HARNESS, kept between runs) and
# any crash (FUZZ_DIR/artifacts/HARNESS/). PYTHON: the venv's python (the seeds need the
# PyTorch reference). FUZZ_FLAGS: more libFuzzer flags (e.g. -runs=1000000).
#
# First every file of Tests/fuzz/reproducers/HARNESS/ (inputs that once broke liberi) is replayed,
# then the harness fuzzes for FUZZ_SECONDS. Exits non-zero on any crash, leak, timeout, out-of-memory
# or broken promise (fuzz_common.h), with the input in FUZZ_DIR/artifacts/HARNESS/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
FUZZ_DIR=${FUZZ_DIR:-.build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-180}
PYTHON=${PYTHON:-.venv/bin/python}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
HARNESSES=${*:-model media stream api}
TOOLCHAIN=$(dirname "$(readlink -f "$(command -v swiftc)")")
CLANG=$TOOLCHAIN/clang

# The library: every Swift module of liberi.so instrumented for coverage (libFuzzer's inline 8-bit
# counters, comparisons) and ASan. The harness's libFuzzer collects the counters of the DSO.
swift build -c release --scratch-path "$FUZZ_DIR" --product eri \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -static-stdlib -Xswiftc -use-ld=lld
LIB=$FUZZ_DIR/release/liberi.so
ln -sf liberi.so "$FUZZ_DIR/release/liberi.so.0" # its soname, which the harnesses load
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0 # Tests/sanitizers/host.sh asan: the ASan liberi.so only
for h in $HARNESSES; do
    "$CLANG" -fsanitize=fuzzer,address -fuse-ld=lld -g -O1 -Wall -Werror -I include "Tests/fuzz/fuzz_$h.c" "$LIB" \
        -Wl,-rpath,"$(cd "$(dirname "$LIB")" && pwd)" -lm -o "$FUZZ_DIR/fuzz_$h"
done

SEEDS=$FUZZ_DIR/seeds
if [ ! -f "$SEEDS/micro.eri" ] || [ "$HERE/make_seeds.py" -nt "$SEEDS/micro.eri" ]; then
    rm -rf "$SEEDS"
    "$PYTHON" "$HERE/make_seeds.py" "$SEEDS"
fi
export ERI_FUZZ_MODEL=$REPO/$SEEDS/micro.eri
[ -f .build/models/face-mtcnn.safetensors ] && export ERI_FUZZ_FACE_MODEL=$REPO/.build/models/face-mtcnn.safetensors
# Leaks: liberi's and the harness's are reported; FFmpeg's and libsndfile's process-lifetime
# allocations are reachable, so LeakSanitizer does not report them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=0}

max_len() {
    case $1 in model) echo 32768 ;; media) echo 16384 ;; *) echo 4096 ;; esac
}

failed=0
for h in $HARNESSES; do
    corpus=$FUZZ_DIR/corpus/$h
    artifacts=$FUZZ_DIR/artifacts/$h
    mkdir -p "$corpus" "$artifacts"
    [ -d "$SEEDS/$h" ] && cp -n "$SEEDS/$h"/* "$corpus/" 2>/dev/null || true
    common=(-timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=2048 -max_len="$(max_len "$h")" -artifact_prefix="$artifacts/")
    if compgen -G "$HERE/reproducers/$h/*" >/dev/null; then
        echo "== fuzz_$h: replaying Tests/fuzz/reproducers/$h"
        "$FUZZ_DIR/fuzz_$h" "${common[@]}" "$HERE/reproducers/$h"/* 2>&1 | tail -n 3 || { failed=1; continue; }
    fi
    echo "== fuzz_$h: $FUZZ_SECONDS s"
    # shellcheck disable=SC2086
    if ! "$FUZZ_DIR/fuzz_$h" "${common[@]}" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 $FUZZ_FLAGS \
        "$corpus" >"$FUZZ_DIR/fuzz_$h.log" 2>&1; then
        failed=1
        echo "fuzz_$h FAILED: the input is in $artifacts; the log's end:"
        grep -v '^#' "$FUZZ_DIR/fuzz_$h.log" | tail -n 40
        continue
    fi
    # The last status line (execs, cov, ft, corpus) and the final stats.
    grep -E '^#[0-9]+' "$FUZZ_DIR/fuzz_$h.log" | tail -n 1
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$FUZZ_DIR/fuzz_$h.log" | tr '\n' ' '
    echo
done
exit $failed
