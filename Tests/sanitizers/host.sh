#!/usr/bin/env bash
# The C hosts of Tests/host against liberi.so built with a sanitizer, each host built with it too:
#
#   bash Tests/sanitizers/host.sh asan    (make sanitize-host)
#   bash Tests/sanitizers/host.sh tsan    (make sanitize-host-tsan)
#
# asan: test_c, test_predict, test_stream, test_records with AddressSanitizer + UndefinedBehavior-
# Sanitizer against the ASan liberi.so of make fuzz (.build-fuzz/release/liberi.so): a read or write
# past a caller's buffer or struct, a use after free or a leak in liberi fails the run.
# tsan: the C API's thread stress, test_c (threads on one model, the thread-local error buffer, the
# log callback) and test_predict (4 threads predicting on one model), against liberi.so built with
# -sanitize=thread (.build-tsan-lib); suppressions: Tests/sanitizers/tsan.supp.
#
# Not here: test_limits.c (its children cap their address space at 4 GB, and ASan's shadow memory
# alone reserves terabytes of it; its reproducers are in the fuzz seeds instead), the C++, CMake,
# Python and wheel hosts (they test packaging, not memory; the Python interpreter is not built
# with a sanitizer). Needs the release eri CLI for `eri init` (make all).
set -euo pipefail
SANITIZER=${1:?usage: host.sh asan|tsan}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
PYTHON=${PYTHON:-.venv/bin/python}
ERI=${ERI:-.build/release/eri-cli}
TOOLCHAIN_BIN=$(dirname "$(readlink -f "$(command -v swiftc)")")
CLANG=$TOOLCHAIN_BIN/clang
case $SANITIZER in
asan)
    FUZZ_DIR=${FUZZ_DIR:-.build-fuzz}
    FUZZ_BUILD_ONLY=1 FUZZ_DIR=$FUZZ_DIR bash Tests/fuzz/run.sh
    LIBDIR=$(cd "$FUZZ_DIR/release" && pwd)
    FLAGS=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
    EXTRA=()
    NAME="ASan + UBSan"
    HOSTS=(test_c test_predict test_stream test_records)
    # Leaks: LeakSanitizer runs at exit. halt_on_error: the first report fails the host.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:allocator_may_return_null=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$HERE/lsan.supp:print_suppressions=0}
    ;;
tsan)
    SCRATCH=${TSAN_LIB_DIR:-.build-tsan-lib}
    swift build -c release --scratch-path "$SCRATCH" --product eri \
        -Xswiftc -sanitize=thread -Xswiftc -static-stdlib -Xswiftc -use-ld=lld
    LIBDIR=$(cd "$SCRATCH/release" && pwd)
    ln -sf liberi.so "$LIBDIR/liberi.so.0"
    # The toolchain's TSan runtime intercepts libdispatch, so a C host links the toolchain's copy.
    SWIFT_LIBS=$(cd "$TOOLCHAIN_BIN/../lib/swift/linux" && pwd)
    FLAGS=(-fsanitize=thread)
    EXTRA=(-L"$SWIFT_LIBS" -ldispatch -lBlocksRuntime -Wl,-rpath,"$SWIFT_LIBS")
    NAME="TSan"
    HOSTS=(test_c test_predict)
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$HERE/tsan.supp}
    ;;
*) echo "usage: host.sh asan|tsan" >&2; exit 2 ;;
esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/eri-host-$SANITIZER.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$ERI" init --preset dbn-tiny --seed 1 -o "$WORK/tiny.eri" >/dev/null
"$ERI" init --preset dbn-tiny --video-only --seed 2 -o "$WORK/tiny-video.eri" >/dev/null
"$ERI" init --preset dbn-tiny --audio-only --seed 3 -o "$WORK/tiny-audio.eri" >/dev/null
"$PYTHON" Tests/host/make_bad_models.py "$WORK/tiny.eri" "$WORK/bad" >/dev/null
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 \
    -f lavfi -i sine=frequency=300:sample_rate=44100:duration=2 -c:v libx264 -pix_fmt yuv420p -c:a aac \
    -shortest "$WORK/clip.mp4"
MODELS=("$WORK/tiny.eri" "$WORK/tiny-video.eri" "$WORK/tiny-audio.eri")

failed=0
for name in "${HOSTS[@]}"; do
    case $name in
    test_c) libs=(-lpthread); args=("$WORK/bad" "${MODELS[@]}") ;;
    test_predict) libs=(-lpthread -lm); args=("${MODELS[@]}") ;;
    test_stream) libs=(-lm); args=("${MODELS[@]}") ;;
    test_records) libs=(-lm); args=("${MODELS[@]}" "$WORK/clip.mp4") ;;
    esac
    "$CLANG" -std=c99 -g -O1 "${FLAGS[@]}" -fuse-ld=lld -Wall -Wextra -pedantic -Werror -I include \
        "Tests/host/$name.c" "$LIBDIR/liberi.so" -Wl,-rpath,"$LIBDIR" "${libs[@]}" "${EXTRA[@]}" -o "$WORK/$name"
    start=$SECONDS
    # A sanitizer that reports without halting (TSan's suppressed-but-printed reports) fails the host too.
    if "$WORK/$name" "${args[@]}" >"$WORK/$name.out" 2>&1 && ! grep -q "ThreadSanitizer" "$WORK/$name.out"; then
        echo "ok - $name under $NAME ($((SECONDS - start)) s)"
    else
        failed=1
        echo "not ok - $name under $NAME:"
        tail -n 80 "$WORK/$name.out" | sed 's/^/    /'
    fi
done
exit $failed
