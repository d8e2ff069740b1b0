#!/usr/bin/env bash
# The C hosts of Tests/host (test_c, test_predict, test_stream, test_records) built with
# AddressSanitizer + UndefinedBehaviorSanitizer against liberi.so built with ASan (the
# instrumented build of make fuzz, .build-fuzz/release/liberi.so), so that a read or write past a
# caller's buffer or struct, a use after free or a leak in liberi fails the run (make sanitize-host).
#
# Not here: test_limits.c (its children cap their address space at 4 GB, and ASan's shadow memory
# alone reserves terabytes of it; its reproducers are in the fuzz seeds instead), the C++, CMake,
# Python and wheel hosts (they test packaging, not memory; the Python interpreter is not built
# with ASan). Needs the release eri CLI for `eri init` (make all).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
PYTHON=${PYTHON:-.venv/bin/python}
FUZZ_DIR=${FUZZ_DIR:-.build-fuzz}
ERI=${ERI:-.build/release/eri-cli}
CLANG=$(dirname "$(readlink -f "$(command -v swiftc)")")/clang
FUZZ_BUILD_ONLY=1 FUZZ_DIR=$FUZZ_DIR bash Tests/fuzz/run.sh
LIBDIR=$(cd "$FUZZ_DIR/release" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/eri-host-asan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$ERI" init --preset dbn-tiny --seed 1 -o "$WORK/tiny.eri" >/dev/null
"$ERI" init --preset dbn-tiny --video-only --seed 2 -o "$WORK/tiny-video.eri" >/dev/null
"$ERI" init --preset dbn-tiny --audio-only --seed 3 -o "$WORK/tiny-audio.eri" >/dev/null
"$PYTHON" Tests/host/make_bad_models.py "$WORK/tiny.eri" "$WORK/bad" >/dev/null
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 \
    -f lavfi -i sine=frequency=300:sample_rate=44100:duration=2 -c:v libx264 -pix_fmt yuv420p -c:a aac \
    -shortest "$WORK/clip.mp4"
MODELS=("$WORK/tiny.eri" "$WORK/tiny-video.eri" "$WORK/tiny-audio.eri")

# Leaks: LeakSanitizer runs at exit. halt_on_error: the first report fails the host.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$HERE/lsan.supp:print_suppressions=0}
failed=0
run() {
    local name=$1 libs=$2
    shift 2
    # shellcheck disable=SC2086
    "$CLANG" -std=c99 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld \
        -Wall -Wextra -pedantic -Werror -I include "Tests/host/$name.c" "$LIBDIR/liberi.so" -Wl,-rpath,"$LIBDIR" \
        $libs -o "$WORK/$name"
    local start=$SECONDS
    if "$WORK/$name" "$@" >"$WORK/$name.out" 2>&1; then
        echo "ok - $name under ASan + UBSan ($((SECONDS - start)) s)"
    else
        failed=1
        echo "not ok - $name under ASan + UBSan:"
        tail -n 60 "$WORK/$name.out" | sed 's/^/    /'
    fi
}
run test_c -lpthread "$WORK/bad" "${MODELS[@]}"
run test_predict "-lpthread -lm" "${MODELS[@]}"
run test_stream -lm "${MODELS[@]}"
run test_records -lm "${MODELS[@]}" "$WORK/clip.mp4"
exit $failed
