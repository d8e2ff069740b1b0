#!/usr/bin/env bash
# Host tests of an installed liberi: the C, C++ and Python (ctypes) hosts, the
# header on its own, the exported symbols, pkg-config, and safetensors interop.
#
#   ERI_PREFIX=/tmp/eri-prefix PYTHON=.venv/bin/python bash Tests/host/run.sh
#
# ERI_PREFIX is where `make install PREFIX=…` put lib/liberi.so, include/eri.h,
# lib/pkgconfig/eri.pc and bin/eri. Prints one `ok - name` / `not ok - name: why`
# line per check (the output of each host program indented below it), then
# `host: N passed, M failed`; exits 1 if any check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
: "${ERI_PREFIX:?set ERI_PREFIX to the install prefix}"
ERI_PREFIX=$(cd "$ERI_PREFIX" && pwd)
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
CXX=${CXX:-c++}
export PYTHONDONTWRITEBYTECODE=1
export PKG_CONFIG_PATH="$ERI_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
LIB="$ERI_PREFIX/lib/liberi.so"
ERI="$ERI_PREFIX/bin/eri"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/eri-host.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1: $2"; }
indent() { sed 's/^/    /'; }

# check NAME COMMAND...: runs the command with its output in $WORK/out.txt;
# ok if it exits 0, else not ok with the output shown.
check() {
    local name=$1
    shift
    if "$@" >"$WORK/out.txt" 2>&1; then
        ok "$name"
        [ -s "$WORK/out.txt" ] && indent <"$WORK/out.txt"
    else
        local rc=$? last
        last=$(grep -v '^[[:space:]]*$' "$WORK/out.txt" | tail -n 1 | cut -c 1-300)
        not_ok "$name" "exit $rc${last:+: $last}"
        indent <"$WORK/out.txt"
    fi
    return 0
}

# -- the installed files
installed() {
    local f
    for f in lib/liberi.so lib/liberi.so.0 include/eri.h lib/pkgconfig/eri.pc bin/eri; do
        [ -e "$ERI_PREFIX/$f" ] || { echo "missing $ERI_PREFIX/$f"; return 1; }
    done
    local version
    version=$(sed -n 's/^#define ERI_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$ERI_PREFIX/include/eri.h" | paste -sd.)
    [ -e "$ERI_PREFIX/lib/liberi.so.$version" ] || { echo "missing lib/liberi.so.$version"; return 1; }
    [ "$(pkg-config --modversion eri)" = "$version" ] || { echo "pkg-config says $(pkg-config --modversion eri), header $version"; return 1; }
    readelf -d "$LIB" | grep -q 'SONAME.*\[liberi\.so\.0\]' || { echo "SONAME is not liberi.so.0:"; readelf -d "$LIB" | grep SONAME; return 1; }
    echo "liberi $version, pkg-config: $(pkg-config --cflags --libs eri)"
}
check "installed files, version $(pkg-config --modversion eri 2>/dev/null || echo '?'), SONAME liberi.so.0" installed

# -- self-contained: no Swift runtime needed, only eri_* exported
no_swift_runtime() {
    local deps
    deps=$(ldd "$LIB")
    if grep -q libswift <<<"$deps"; then echo "liberi.so needs:"; grep libswift <<<"$deps"; return 1; fi
    if grep -q 'not found' <<<"$deps"; then echo "unresolved:"; grep 'not found' <<<"$deps"; return 1; fi
    echo "$(wc -l <<<"$deps") shared libraries, none of them libswift*"
}
check "ldd liberi.so shows no libswift" no_swift_runtime

only_eri_exports() {
    local syms bad
    syms=$(nm -D --defined-only "$LIB" | awk '{print $3}')
    bad=$(grep -v '^eri_' <<<"$syms" || true)
    if [ -n "$bad" ]; then echo "non-API exports:"; head -20 <<<"$bad"; return 1; fi
    echo "exports: $(tr '\n' ' ' <<<"$syms")"
}
check "nm -D --defined-only shows only eri_* symbols" only_eri_exports

# -- the header on its own, in strict C and C++ (included twice: the guard)
printf '#include <eri.h>\n#include <eri.h>\n' >"$WORK/header_only.c"
cp "$WORK/header_only.c" "$WORK/header_only.cpp"
check "eri.h compiles alone: gcc -std=c99 -Wall -Wextra -pedantic -Werror" \
    gcc -std=c99 -Wall -Wextra -pedantic -Werror -c "$WORK/header_only.c" -o "$WORK/header_only_c.o" -I"$ERI_PREFIX/include"
check "eri.h compiles alone: g++ -std=c++17 -Wall -Wextra -Werror" \
    g++ -std=c++17 -Wall -Wextra -Werror -c "$WORK/header_only.cpp" -o "$WORK/header_only_cpp.o" -I"$ERI_PREFIX/include"

# -- models: good ones from `eri init`, crafted bad ones
make_models() {
    "$ERI" init --preset dbn-tiny --seed 1 -o "$WORK/tiny.eri" &&
        "$ERI" init --preset dbn-tiny --video-only --seed 2 -o "$WORK/tiny-video.eri" &&
        "$ERI" init --preset dbn-tiny --audio-only --seed 3 -o "$WORK/tiny-audio.eri"
}
check "eri init dbn-tiny, --video-only, --audio-only" make_models
MODELS=("$WORK/tiny.eri" "$WORK/tiny-video.eri" "$WORK/tiny-audio.eri")
check "make_bad_models.py writes the SPEC §2 rejection cases" "$PYTHON" "$HERE/make_bad_models.py" "$WORK/tiny.eri" "$WORK/bad"

# -- the header's own example, built exactly as it says, run without LD_LIBRARY_PATH
pkgconfig_example() {
    # shellcheck disable=SC2046  # pkg-config output is meant to split
    $CC "$HERE/pkgconfig_main.c" -o "$WORK/main" $(pkg-config --cflags --libs eri) &&
        env -u LD_LIBRARY_PATH "$WORK/main" "$WORK/tiny.eri"
}
check "cc main.c \$(pkg-config --cflags --libs eri) runs without LD_LIBRARY_PATH" pkgconfig_example

# -- C host
build_c() {
    # shellcheck disable=SC2046
    $CC -std=c99 -Wall -Wextra -pedantic -Werror "$HERE/test_c.c" -o "$WORK/test_c" $(pkg-config --cflags --libs eri) -lpthread
}
check "test_c.c builds (C99, -Wall -Wextra -pedantic -Werror)" build_c
if [ -x "$WORK/test_c" ]; then
    check "test_c (C API: versions, arguments, info, rejections, errno, threads, log, leaks)" \
        env -u LD_LIBRARY_PATH "$WORK/test_c" "$WORK/bad" "${MODELS[@]}"
else
    not_ok "test_c" "not built"
fi

# -- C host: prediction
build_predict() {
    # shellcheck disable=SC2046
    $CC -std=c99 -Wall -Wextra -pedantic -Werror "$HERE/test_predict.c" -o "$WORK/test_predict" $(pkg-config --cflags --libs eri) -lpthread -lm
}
check "test_predict.c builds (C99, -Wall -Wextra -pedantic -Werror)" build_predict
if [ -x "$WORK/test_predict" ]; then
    check "test_predict (eri_predict_frames/pcm/av: results, consistency, argument errors, 4 threads)" \
        env -u LD_LIBRARY_PATH "$WORK/test_predict" "${MODELS[@]}"
else
    not_ok "test_predict" "not built"
fi

# -- C++ host
build_cpp() {
    # shellcheck disable=SC2046
    $CXX -std=c++17 -Wall -Wextra -Werror "$HERE/test_cpp.cpp" -o "$WORK/test_cpp" $(pkg-config --cflags --libs eri)
}
check "test_cpp.cpp builds (C++17, -Wall -Wextra -Werror)" build_cpp
if [ -x "$WORK/test_cpp" ]; then
    check "test_cpp (RAII, exceptions)" env -u LD_LIBRARY_PATH "$WORK/test_cpp" "$WORK/bad/wrong_shape.eri" "${MODELS[@]}"
else
    not_ok "test_cpp" "not built"
fi

# -- Python ctypes host
check "test_ctypes.py (ctypes, struct layout)" \
    env ERI_LIBRARY="$LIB" ERI_PREFIX="$ERI_PREFIX" "$PYTHON" "$HERE/test_ctypes.py" "$WORK/bad" "${MODELS[@]}"

# -- safetensors interop (liberi ↔ Python safetensors ↔ the PyTorch reference)
check "pytest Tests/python (safetensors interop, reference oracle)" \
    env ERI_CLI="$ERI" ERI_PREFIX="$ERI_PREFIX" ERI_LIBRARY="$LIB" "$PYTHON" -m pytest -q -p no:cacheprovider "$REPO/Tests/python"

echo "host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
