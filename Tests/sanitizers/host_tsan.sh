#!/usr/bin/env bash
# The C API's thread stress under ThreadSanitizer (make sanitize-tsan): liberi.so built with
# -sanitize=thread (.build-tsan-lib), test_c (threads on one model, the thread-local error buffer,
# the log callback) and test_predict (4 threads predicting on one model) built with clang
# -fsanitize=thread against it. Suppressions: Tests/sanitizers/tsan.supp. Needs the release eri
# CLI for `eri init` (make all).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
PYTHON=${PYTHON:-.venv/bin/python}
SCRATCH=${TSAN_LIB_DIR:-.build-tsan-lib}
ERI=${ERI:-.build/release/eri-cli}
TOOLCHAIN_BIN=$(dirname "$(readlink -f "$(command -v swiftc)")")
CLANG=$TOOLCHAIN_BIN/clang
# The toolchain's TSan runtime intercepts libdispatch, so a C host links the toolchain's copy.
SWIFT_LIBS=$(cd "$TOOLCHAIN_BIN/../lib/swift/linux" && pwd)
swift build -c release --scratch-path "$SCRATCH" --product eri \
    -Xswiftc -sanitize=thread -Xswiftc -static-stdlib -Xswiftc -use-ld=lld
LIBDIR=$(cd "$SCRATCH/release" && pwd)
ln -sf liberi.so "$LIBDIR/liberi.so.0"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/eri-host-tsan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$ERI" init --preset dbn-tiny --seed 1 -o "$WORK/tiny.eri" >/dev/null
"$ERI" init --preset dbn-tiny --video-only --seed 2 -o "$WORK/tiny-video.eri" >/dev/null
"$ERI" init --preset dbn-tiny --audio-only --seed 3 -o "$WORK/tiny-audio.eri" >/dev/null
"$PYTHON" Tests/host/make_bad_models.py "$WORK/tiny.eri" "$WORK/bad" >/dev/null
MODELS=("$WORK/tiny.eri" "$WORK/tiny-video.eri" "$WORK/tiny-audio.eri")
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$HERE/tsan.supp}
failed=0
run() {
    local name=$1 libs=$2
    shift 2
    # shellcheck disable=SC2086
    "$CLANG" -std=c99 -g -O1 -fsanitize=thread -fuse-ld=lld -Wall -Wextra -pedantic -Werror -I include \
        "Tests/host/$name.c" "$LIBDIR/liberi.so" -Wl,-rpath,"$LIBDIR" $libs \
        -L"$SWIFT_LIBS" -ldispatch -lBlocksRuntime -Wl,-rpath,"$SWIFT_LIBS" -o "$WORK/$name"
    local start=$SECONDS
    if "$WORK/$name" "$@" >"$WORK/$name.out" 2>&1 && ! grep -q "ThreadSanitizer" "$WORK/$name.out"; then
        echo "ok - $name under TSan ($((SECONDS - start)) s)"
    else
        failed=1
        echo "not ok - $name under TSan:"
        tail -n 80 "$WORK/$name.out" | sed 's/^/    /'
    fi
}
run test_c -lpthread "$WORK/bad" "${MODELS[@]}"
run test_predict "-lpthread -lm" "${MODELS[@]}"
exit $failed
