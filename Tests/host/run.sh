#!/usr/bin/env bash
# Host tests of an installed liberi: the C, C++ and Python (ctypes) hosts, the
# header on its own, the exported symbols, pkg-config, the CMake package, and
# safetensors interop.
#
#   ERI_PREFIX=/tmp/eri-prefix PYTHON=.venv/bin/python bash Tests/host/run.sh
#
# ERI_PREFIX is where `make install PREFIX=…` put lib/liberi.so, include/eri.h,
# include/eri.hpp, lib/pkgconfig/eri.pc, lib/cmake/eri/eriConfig*.cmake, bin/eri and
# share/eri/face-mtcnn.safetensors (`make models` left the wheel in .build/models). Prints one `ok - name` /
# `not ok - name: why` line per check (the output of each host program indented
# below it), then `host: N passed, M failed`; exits 1 if any check failed.
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
    for f in lib/liberi.so lib/liberi.so.0 include/eri.h include/eri.hpp lib/pkgconfig/eri.pc \
        lib/cmake/eri/eriConfig.cmake lib/cmake/eri/eriConfigVersion.cmake bin/eri; do
        [ -e "$ERI_PREFIX/$f" ] || { echo "missing $ERI_PREFIX/$f"; return 1; }
    done
    local version
    version=$(sed -n 's/^#define ERI_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$ERI_PREFIX/include/eri.h" | paste -sd.)
    [ -e "$ERI_PREFIX/lib/liberi.so.$version" ] || { echo "missing lib/liberi.so.$version"; return 1; }
    [ "$(pkg-config --modversion eri)" = "$version" ] || { echo "pkg-config says $(pkg-config --modversion eri), header $version"; return 1; }
    grep -q "^set(PACKAGE_VERSION \"$version\")$" "$ERI_PREFIX/lib/cmake/eri/eriConfigVersion.cmake" ||
        { echo "eriConfigVersion.cmake does not say $version:"; grep PACKAGE_VERSION "$ERI_PREFIX/lib/cmake/eri/eriConfigVersion.cmake" | head -3; return 1; }
    readelf -d "$LIB" | grep -q 'SONAME.*\[liberi\.so\.0\]' || { echo "SONAME is not liberi.so.0:"; readelf -d "$LIB" | grep SONAME; return 1; }
    echo "liberi $version, pkg-config: $(pkg-config --cflags --libs eri)"
}
check "installed files, version $(pkg-config --modversion eri 2>/dev/null || echo '?'), SONAME liberi.so.0" installed

# -- the face detector's weights: make models -> share/eri/face-mtcnn.safetensors
face_weights() {
    local f=$ERI_PREFIX/share/eri/face-mtcnn.safetensors
    [ -f "$f" ] || { echo "missing $f"; return 1; }
    [ "$(stat -c %a "$f")" = 644 ] || { echo "$f has mode $(stat -c %a "$f"), not 644"; return 1; }
    "$PYTHON" - "$f" <<'PY'
import sys
import numpy as np
from safetensors import safe_open
with safe_open(sys.argv[1], "np") as f:
    meta, names = f.metadata(), sorted(f.keys())
    tensors = {n: f.get_tensor(n) for n in names}
counts = {net: sum(n.startswith(net + ".") for n in names) for net in ("pnet", "rnet", "onet")}
assert counts == {"pnet": 13, "rnet": 16, "onet": 21} and len(names) == 50, counts
shapes = {"pnet.conv1.weight": (10, 3, 3, 3), "pnet.conv4_2.bias": (4,), "rnet.dense4.weight": (128, 576),
          "rnet.prelu4.weight": (128,), "onet.dense5.weight": (256, 1152), "onet.dense6_3.bias": (10,)}
for n, shape in shapes.items():
    assert tensors[n].shape == shape, (n, tensors[n].shape)
assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in tensors.values())
assert meta["format"] == "eri-face" and meta["eri.face.model"] == "mtcnn", meta
assert "facenet-pytorch 2.6.0" in meta["eri.face.provenance"]
assert "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca" in meta["eri.face.provenance"]
assert meta["eri.face.licence"].startswith("MIT License") and "Copyright (c) 2019 Timothy Esler" in meta["eri.face.licence"]
print("%d tensors (P-Net %d, R-Net %d, O-Net %d), %d values; %s" % (len(names), counts["pnet"], counts["rnet"],
      counts["onet"], sum(t.size for t in tensors.values()), meta["eri.face.provenance"][:60] + "…"))
PY
}
check "share/eri/face-mtcnn.safetensors (644): P-Net, R-Net and O-Net tensors, eri-face metadata, MIT licence" face_weights

# scripts/convert_mtcnn.py with the python3 make models uses, on a copy of the wheel with one byte changed
converter_refuses_corrupt_wheel() {
    local wheel=$REPO/.build/models/facenet_pytorch-2.6.0-py3-none-any.whl rc=0
    [ -f "$wheel" ] || { echo "no $wheel: run make models"; return 1; }
    cp "$wheel" "$WORK/corrupt.whl"
    "$PYTHON" -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x10; open(p, "wb").write(b)' \
        "$WORK/corrupt.whl"
    "${PYTHON3:-python3}" "$REPO/scripts/convert_mtcnn.py" "$WORK/corrupt.whl" "$WORK/corrupt.safetensors" 2>"$WORK/convert.err" || rc=$?
    cat "$WORK/convert.err"
    [ "$rc" != 0 ] || { echo "exit 0 on a corrupted wheel"; return 1; }
    grep -q "sha256 .* is not the pinned checksum ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca" "$WORK/convert.err" ||
        { echo "the message does not name the checksum"; return 1; }
    [ ! -e "$WORK/corrupt.safetensors" ] || { echo "it wrote an output anyway"; return 1; }
    echo "exit $rc"
}
check "convert_mtcnn.py refuses the wheel with one byte flipped (non-zero exit, the pinned sha256 named)" converter_refuses_corrupt_wheel

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
CXX_STRICT=(-std=c++17 -Wall -Wextra -Wshadow -pedantic -Werror)
printf '#include <eri.hpp>\n#include <eri.hpp>\n' >"$WORK/hpp_only.cpp"
check "eri.hpp compiles alone: g++ ${CXX_STRICT[*]}" \
    g++ "${CXX_STRICT[@]}" -c "$WORK/hpp_only.cpp" -o "$WORK/hpp_only.o" -I"$ERI_PREFIX/include"

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

# -- C hosts
# c_host NAME "WHAT IT CHECKS" "EXTRA LIBS" ARGS…: builds Tests/host/NAME.c (C99, warnings
# as errors, pkg-config) as one check, then runs it without LD_LIBRARY_PATH as another.
c_host() {
    local name=$1 what=$2 libs=$3
    shift 3
    # shellcheck disable=SC2046,SC2086  # pkg-config output and the libs are meant to split
    check "$name.c builds (C99, -Wall -Wextra -pedantic -Werror)" \
        $CC -std=c99 -Wall -Wextra -pedantic -Werror "$HERE/$name.c" -o "$WORK/$name" $(pkg-config --cflags --libs eri) $libs
    if [ -x "$WORK/$name" ]; then
        check "$name ($what)" env -u LD_LIBRARY_PATH "$WORK/$name" "$@"
    else
        not_ok "$name" "not built"
    fi
}
c_host test_c "C API: versions, arguments, info, rejections, errno, threads, log, leaks" -lpthread "$WORK/bad" "${MODELS[@]}"
c_host test_predict "eri_predict_frames/pcm/av: results, consistency, argument errors, 4 threads" "-lpthread -lm" "${MODELS[@]}"
c_host test_stream "eri_stream_*: reads = eri_predict_av on what they used, gaps, bad input, missing modality" -lm "${MODELS[@]}"

# -- media: examples and the CLI on real files (generated with ffmpeg)
make_media() {
    mkdir -p "$WORK/media/sub" &&
        ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 \
            -f lavfi -i sine=frequency=300:sample_rate=44100:duration=2 -c:v libx264 -pix_fmt yuv420p -c:a aac \
            -shortest "$WORK/media/clip.mp4" &&
        ffmpeg -nostdin -v error -y -f lavfi -i sine=frequency=500:sample_rate=16000:duration=3 "$WORK/media/sub/voice.wav" &&
        head -c 4000 /dev/urandom >"$WORK/media/broken.mp4" && : >"$WORK/media/empty.wav"
}
check "ffmpeg makes an H.264+AAC MP4, a WAV and two broken files" make_media
c_host test_records "eri_predict_file_ex/av_ex records, progress + cancel, windows, timelines, NV12, refused inputs" -lm "${MODELS[@]}" "$WORK/media/clip.mp4"

# -- issue 15: inputs and models that once aborted the host, took gigabytes or returned NaN with ERI_OK
check "make_hostile_media.py writes issue 15's media (1 Hz WAV and FLAC, a 537 MHz header, ±3e38 and NaN float WAVs, 9 channels, a damaged Ogg)" \
    "$PYTHON" "$HERE/make_hostile_media.py" "$WORK/hostile"
c_host test_limits "issue 15's reproducers, each in a child: a clear status and message, no signal, ≤ 10 s and ≤ 1.5 GB peak RSS, never NaN with ERI_OK" \
    -lm "$WORK/tiny.eri" "$WORK/tiny-audio.eri" "$WORK/bad" "$WORK/hostile"
cli_never_nan() {
    local rc=0
    "$ERI" predict --model "$WORK/bad/overflow.model" --json "$WORK/hostile/tone.wav" >"$WORK/nan.out" 2>"$WORK/nan.err" || rc=$?
    cat "$WORK/nan.out" "$WORK/nan.err"
    [ "$rc" = 1 ] || { echo "exit status $rc, expected 1"; return 1; }
    if grep -qi nan "$WORK/nan.out"; then echo "nan on stdout"; return 1; fi
    grep -q "overflow" "$WORK/nan.err" || { echo "no word of the overflow on stderr"; return 1; }
}
check "eri predict --json with a model that overflows: exit 1 and a message, never nan" cli_never_nan

examples_build() { make --no-print-directory -C "$REPO/examples" BIN="$WORK/examples"; }
check "examples build with pkg-config (make -C examples)" examples_build
seven_lines() { # COMMAND...: runs it, expects the 7 emotion names in its output
    "$@" >"$WORK/example.txt" && cat "$WORK/example.txt" &&
        for e in Adoration Amusement Anxiety Disgust Empathic-Pain Fear Surprise; do grep -q "$e" "$WORK/example.txt" || { echo "no $e"; return 1; }; done
}
check "examples/c/predict_file on an MP4" seven_lines env -u LD_LIBRARY_PATH "$WORK/examples/predict_file" "$WORK/tiny.eri" "$WORK/media/clip.mp4"
check "examples/c/predict_frames (raw RGB + face box + 48 kHz stereo)" seven_lines env -u LD_LIBRARY_PATH "$WORK/examples/predict_frames" "$WORK/tiny.eri"
check "examples/cpp/predict (RAII, exceptions, <eri.hpp> from the install)" seven_lines env -u LD_LIBRARY_PATH "$WORK/examples/predict_cpp" "$WORK/tiny.eri" "$WORK/media/clip.mp4"

# -- the CMake package: examples/cmake with find_package(eri 0.2) and eri::eri, run as built
# cmake_example PREFIX BUILD: configures and builds it against PREFIX (warnings as errors),
# checks that it found PREFIX's liberi and has a run path there, runs it without LD_LIBRARY_PATH
cmake_example() {
    local prefix=$1 build=$2 lib dynamic deps
    cmake -S "$REPO/examples/cmake" -B "$build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wshadow -pedantic -Werror" >"$build.log" 2>&1 &&
        cmake --build "$build" >>"$build.log" 2>&1 || { cat "$build.log"; return 1; }
    grep "liberi .*: " "$build.log"
    lib=$(sed -n 's/^-- liberi [0-9.]*: //p' "$build.log")
    [ "$lib" = "$prefix/lib/liberi.so.$(readlink "$prefix/lib/liberi.so.0" | sed 's/^liberi\.so\.//')" ] ||
        { echo "found $lib, not $prefix's"; return 1; }
    # (whole outputs first: grep -q closing a pipe early fails the pipeline under pipefail)
    dynamic=$(readelf -d "$build/eri_cmake_example") && deps=$(env -u LD_LIBRARY_PATH ldd "$build/eri_cmake_example") || return 1
    grep -q "R.*PATH.*\[$prefix/lib[]:]" <<<"$dynamic" || { echo "no run path to $prefix/lib:"; grep -i path <<<"$dynamic"; return 1; }
    grep -q "liberi\.so\.0 => $prefix/lib/liberi\.so\.0 " <<<"$deps" ||
        { echo "liberi.so.0 does not resolve into $prefix/lib:"; grep eri <<<"$deps"; return 1; }
    echo "run path and ldd: $prefix/lib"
    seven_lines env -u LD_LIBRARY_PATH "$build/eri_cmake_example" "$WORK/tiny.eri" "$WORK/media/clip.mp4"
}
check "examples/cmake: find_package(eri 0.2) + eri::eri builds (-Wall -Wextra -Wshadow -pedantic -Werror) and runs without LD_LIBRARY_PATH" \
    cmake_example "$ERI_PREFIX" "$WORK/cmake-build"
cmake_relocated() {
    if grep -n "$ERI_PREFIX" "$ERI_PREFIX"/lib/cmake/eri/*.cmake; then echo "the CMake files name the prefix"; return 1; fi
    cp -a "$ERI_PREFIX" "$WORK/moved-prefix" && cmake_example "$WORK/moved-prefix" "$WORK/cmake-build-moved"
}
check "the CMake package is relocatable: a copy of the prefix elsewhere gives its own liberi.so to examples/cmake" cmake_relocated
# -- the Python package: `make wheel` (liberi.so inside), installed in a clean venv with only numpy from
# PyPI, predicting a media file with no ERI_LIBRARY and no LD_LIBRARY_PATH; the source tree gets no
# build/ or *.egg-info. The other Python checks import the source package (python/) with ERI_LIBRARY.
build_leftovers() { find "$REPO" -path "$REPO/.build" -prune -o \( -name build -o -name '*.egg-info' \) -print | sort; }
python_wheel() {
    local before after wheel listing
    before=$(build_leftovers)
    make --no-print-directory -C "$REPO" wheel || return 1
    wheel=$(ls "$REPO"/dist/liberi-"$(sed -n 's/^PACKAGE_VERSION = "\(.*\)"$/\1/p' "$REPO/python/liberi/_version.py")"-py3-none-linux_*.whl) || return 1
    listing=$(unzip -l "$wheel") || return 1  # (whole output first: grep -q closing a pipe early fails under pipefail)
    grep -q ' liberi/liberi\.so$' <<<"$listing" || { echo "$wheel has no liberi/liberi.so"; return 1; }
    "$PYTHON" -m venv "$WORK/wheel-venv" && "$WORK/wheel-venv/bin/pip" install -q "$wheel" || return 1
    "$WORK/wheel-venv/bin/pip" list --format=freeze | grep -v -E '^(pip|setuptools)==' | tr '\n' ' ' && echo
    (cd "$WORK" && env -u LD_LIBRARY_PATH -u ERI_LIBRARY -u PYTHONPATH "$WORK/wheel-venv/bin/python" - "$WORK/tiny.eri" "$WORK/media/clip.mp4" <<'PY') || return 1
import os, sys, liberi
print("liberi", liberi.__version__, "library", liberi.version(), "from", liberi.library_file())
assert liberi.__version__ == liberi.version()
assert liberi.library_file().startswith(os.path.realpath(os.path.dirname(liberi.__file__))), "not the wheel's own liberi.so"
r = liberi.Model(sys.argv[1]).predict_file(sys.argv[2], warn=False)
# The wheel carries the face detector: the test pattern is searched, and has no face.
assert r["frames_used"] == 8 and r["audio_used"] and r["warnings"] == ["random_weights", "no_face"], r
print({k: round(v, 3) for k, v in r["intensities"].items()})
PY
    after=$(build_leftovers)
    [ "$before" = "$after" ] || { echo "new in the source tree:"; comm -13 <(echo "$before") <(echo "$after"); return 1; }
}
check "make wheel → a clean venv: pip install dist/liberi-*.whl, predict an MP4 with no ERI_LIBRARY/LD_LIBRARY_PATH; no build/ or egg-info left in the tree" python_wheel
home_install() { make --no-print-directory -C "$REPO" install PREFIX="$WORK/home/.local" >/dev/null && ls "$WORK/home/.local/lib/liberi.so"; }
check "make install PREFIX=\$HOME/.local (HOME=\$WORK/home)" home_install
check "test_loading.py (ERI_LIBRARY file/folder/wrong, the wheel's own copy first, LD_LIBRARY_PATH, ~/.local/lib, what a failure says)" \
    env CC="$CC" "$PYTHON" "$HERE/test_loading.py" "$ERI_PREFIX" "$WORK/home" "$WORK/wheel-venv/bin/python"
check "test_layout.py (every struct of liberi._capi, field by field, against cc's eri.h; every function declared)" \
    env CC="$CC" ERI_PREFIX="$ERI_PREFIX" PYTHONPATH="$REPO/python" "$PYTHON" "$HERE/test_layout.py"
check "examples/python/predict.py from the installed wheel, no environment" seven_lines \
    env -u LD_LIBRARY_PATH -u ERI_LIBRARY "$WORK/wheel-venv/bin/python" "$REPO/examples/python/predict.py" "$WORK/tiny.eri" "$WORK/media/clip.mp4"
check "examples/python/predict.py from python/, liberi.so found via the system path given by LD_LIBRARY_PATH" seven_lines \
    env -u ERI_LIBRARY LD_LIBRARY_PATH="$ERI_PREFIX/lib" PYTHONPATH="$REPO/python" "$PYTHON" "$REPO/examples/python/predict.py" "$WORK/tiny.eri" "$WORK/media/clip.mp4"
check "examples/python/predict.py from python/ with ERI_LIBRARY=<prefix>/lib (a folder)" seven_lines \
    env -u LD_LIBRARY_PATH ERI_LIBRARY="$ERI_PREFIX/lib" PYTHONPATH="$REPO/python" "$PYTHON" "$REPO/examples/python/predict.py" "$WORK/tiny.eri" "$WORK/media/clip.mp4"
check "test_stream.py (liberi.Stream: reads = Model.predict on what they used)" \
    env -u LD_LIBRARY_PATH ERI_LIBRARY="$LIB" PYTHONPATH="$REPO/python" "$PYTHON" "$HERE/test_stream.py" "$WORK/tiny.eri"
# estimates FILE LINES: a header of 8 columns, then at least LINES rows of a time and 7 values in [0, 1]
estimates() {
    awk -F'\t' -v want="$2" 'NR == 1 { if (NF != 8 || $2 != "Adoration") bad = 1; next }
        NF == 8 { n++; for (i = 2; i <= 8; i++) if ($i < 0 || $i > 1) bad = 1 }
        END { print n " estimates"; exit (bad || n < want) }' "$1"
}
replay() {
    local out=$WORK/replay.txt
    "$@" >"$out" && head -n 3 "$out" && estimates "$out" 4
}
check "examples/c/stream replays an MP4 as a live source (--fast)" replay env -u LD_LIBRARY_PATH "$WORK/examples/stream" "$WORK/tiny.eri" "$WORK/media/clip.mp4" --fast
check "examples/cpp/stream_cpp (RAII eri::stream)" replay env -u LD_LIBRARY_PATH "$WORK/examples/stream_cpp" "$WORK/tiny.eri" "$WORK/media/clip.mp4" --fast
check "examples/python/stream.py (the installed wheel)" replay env -u LD_LIBRARY_PATH -u ERI_LIBRARY "$WORK/wheel-venv/bin/python" "$REPO/examples/python/stream.py" "$WORK/tiny.eri" "$WORK/media/clip.mp4" --fast
real_time() {
    local start end
    start=$(date +%s.%N)
    replay env -u LD_LIBRARY_PATH "$WORK/examples/stream" "$WORK/tiny.eri" "$WORK/media/clip.mp4" || return 1
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "took %.2f s for a 2 s clip\n", e - s; exit !(e - s >= 1.8) }'
}
check "examples/c/stream paces a 2 s clip at its real rate" real_time
check "eri stream (the Swift replay)" replay "$ERI" stream --model "$WORK/tiny.eri" --window 1 --fast "$WORK/media/clip.mp4"
timeline() {
    "$ERI" timeline --model "$WORK/tiny.eri" --window 1 --hop 0.1 "$WORK/media/clip.mp4" -o "$WORK/timeline.svg" --csv "$WORK/timeline.csv" &&
        head -n 2 "$WORK/timeline.csv" &&
        [ "$(wc -l <"$WORK/timeline.csv")" -ge 15 ] &&
        rsvg-convert "$WORK/timeline.svg" -o "$WORK/timeline.png" &&
        "$PYTHON" "$HERE/check_png.py" "$WORK/timeline.png" 980 440
}
check "eri timeline writes an SVG that renders (rsvg-convert) to a readable PNG, and a CSV" timeline

# -- the points of eri timeline / eri stream: k·hop, hop rounded to the stream's step W/F
# grid_points FILE SEP HOP MIN: column 1 after the header is strictly increasing, every
# value is a multiple k ≥ 1 of HOP and the next one HOP later (to 1e-6), at least MIN rows
grid_points() {
    awk -F"$2" -v hop="$3" -v want="$4" 'NR == 1 { next }
        { t = $1 + 0; n++
          k = t / hop; if (k < 0.5 || (k - int(k + 0.5)) ^ 2 > 1e-12) { print "point " t " is not a multiple of " hop; bad = 1 }
          if (n > 1 && ((t - p - hop) ^ 2 > 1e-12)) { print "point " t " follows " p ": spacing " t - p ", not " hop; bad = 1 }
          p = t }
        END { print n " points, every " hop " s, " (n ? "the last at " p " s" : "none"); exit (bad || n < want) }' "$1"
}
timeline_grid() {
    ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=25:duration=6 \
        -f lavfi -i sine=frequency=300:sample_rate=44100:duration=6 -c:v libx264 -pix_fmt yuv420p -c:a aac \
        -shortest "$WORK/six.mp4" || return 1
    # W = 2 s over the model's F frames: the stream's step, and --hop 0.1 rounded to it (at least one step)
    local frames step hop
    frames=$("$ERI" info "$WORK/tiny.eri" | sed -n 's/.*video (\([0-9]*\) frames.*/\1/p')
    [ -n "$frames" ] || { echo "no frame count in eri info"; return 1; }
    step=$(awk -v f="$frames" 'BEGIN { printf "%.9f", 2 / f }')
    hop=$(awk -v s="$step" 'BEGIN { k = int(0.1 / s + 0.5); if (k < 1) k = 1; printf "%.9f", k * s }')
    echo "F = $frames, W/F = $step s: --hop 0.1 is $hop s"
    "$ERI" timeline --model "$WORK/tiny.eri" --window 2 --hop 0.1 "$WORK/six.mp4" -o "$WORK/six.svg" --csv "$WORK/six.csv" &&
        grid_points "$WORK/six.csv" , "$hop" "$(awk -v h="$hop" 'BEGIN { print int(5.5 / h) }')" || return 1
    "$ERI" timeline --model "$WORK/tiny.eri" --window 2 --hop 0.5 "$WORK/six.mp4" -o "$WORK/six.svg" --csv "$WORK/six.csv" &&
        grid_points "$WORK/six.csv" , 0.5 11 || return 1
    "$ERI" stream --model "$WORK/tiny.eri" --window 2 --every 0.1 --fast "$WORK/six.mp4" >"$WORK/six.tsv" &&
        grid_points "$WORK/six.tsv" '\t' "$hop" "$(awk -v h="$hop" 'BEGIN { print int(5.5 / h) }')"
}
check "eri timeline --window 2 --hop 0.1 / --hop 0.5 and eri stream --every 0.1 on a 6 s file: points at k·hop, hop rounded to W/F, none twice" timeline_grid

cli_predict_folder() {
    local rc=0
    "$ERI" predict --model "$WORK/tiny.eri" "$WORK/media" >"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
    cat "$WORK/cli.out" "$WORK/cli.err"
    [ "$rc" = 1 ] || { echo "exit status $rc, expected 1"; return 1; }
    [ "$(grep -c Adoration "$WORK/cli.out")" = 2 ] || { echo "expected 2 result lines"; return 1; }
    grep -q "broken.mp4" "$WORK/cli.err" && grep -q "empty.wav" "$WORK/cli.err" || { echo "bad files not reported"; return 1; }
    "$ERI" predict --model "$WORK/tiny.eri" --json "$WORK/media/clip.mp4" 2>/dev/null | "$PYTHON" -c 'import json,sys; d=json.loads(sys.stdin.read()); assert all(0 <= d[e] <= 1 for e in ("Adoration","Amusement","Anxiety","Disgust","Empathic-Pain","Fear","Surprise")) and d["frames_used"] == 8 and d["audio_used"], d'
    "$ERI" predict --model "$WORK/tiny.eri" --csv "$WORK/media/sub" 2>/dev/null | "$PYTHON" -c 'import csv,sys; r=list(csv.reader(sys.stdin)); assert r[0][0] == "file" and r[0][1] == "Adoration" and len(r) == 2 and len(r[1]) == len(r[0]), r'
    ERI_MODEL="$WORK/tiny.eri" "$ERI" predict "$WORK/media/sub/voice.wav" >/dev/null
    if "$ERI" predict "$WORK/media/clip.mp4" 2>"$WORK/cli.err"; then echo "no model but success"; return 1; fi
    grep -q "no model" "$WORK/cli.err"
}
check "eri predict: a folder of good and bad files, --json, --csv, ERI_MODEL, no model" cli_predict_folder

# The three warnings of an honest record: random weights, no audio track, a file far longer than the training clips.
cli_warnings() {
    ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=25:duration=3 -c:v libx264 -pix_fmt yuv420p \
        "$WORK/media-extra/silent.mp4" &&
        ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=64x48:rate=5:duration=120 -f lavfi \
            -i sine=frequency=220:sample_rate=16000:duration=120 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest \
            "$WORK/media-extra/long.mp4" || return 1
    "$ERI" predict --model "$WORK/tiny.eri" --faces none --json "$WORK/media-extra/silent.mp4" "$WORK/media-extra/long.mp4" \
        >"$WORK/warn.json" 2>"$WORK/warn.err" || return 1
    cat "$WORK/warn.err"
    grep -q "silent.mp4: warning: the model's weights are a random initialisation" "$WORK/warn.err" &&
        grep -q "silent.mp4: warning: no audio" "$WORK/warn.err" &&
        grep -q "long.mp4: warning: the input lasts 12[0-9].[0-9] s, far longer" "$WORK/warn.err" || { echo "warnings missing on stderr"; return 1; }
    "$PYTHON" - "$WORK/warn.json" <<'PY' || return 1
import json, sys
silent, long = [json.loads(line) for line in open(sys.argv[1])]
assert silent["warnings"] == ["random_weights", "no_audio"] and not silent["audio_used"], silent
assert long["warnings"] == ["random_weights", "long_input"] and long["duration_s"] > 119 and long["frames_given"] >= 590, long
assert long["video_start_s"] < 10 and long["video_end_s"] > 110 and long["audio_end_s"] > 119, long
print("records:", silent["warnings"], long["warnings"], "video span", long["video_start_s"], long["video_end_s"])
PY
    # --windows: the mean over windows of the model's clip length (10 s without one): 12 windows, no long-input warning.
    "$ERI" predict --model "$WORK/tiny.eri" --faces none --json --windows "$WORK/media-extra/long.mp4" 2>/dev/null |
        "$PYTHON" -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["windows"] == 12 and d["window_s"] == 10 and d["frames_used"] == 96 and d["warnings"] == ["random_weights"], d; print("windows:", d["windows"], d["frames_used"])' || return 1
    # The face stage in the records (the installed detector finds no face in the test pattern), and in eri stream / timeline.
    "$ERI" predict --model "$WORK/tiny.eri" --faces detect --json "$WORK/media-extra/silent.mp4" 2>"$WORK/faces.err" |
        "$PYTHON" -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["face_coverage"] == 0 and d["warnings"] == ["random_weights", "no_audio", "no_face"], d; print("faces:", d["warnings"], d["face_coverage"])' || return 1
    grep -q "warning: no face found in the 8 frames used" "$WORK/faces.err" || { cat "$WORK/faces.err"; return 1; }
    "$ERI" timeline --model "$WORK/tiny.eri" "$WORK/media-extra/silent.mp4" -o "$WORK/faces.svg" >/dev/null 2>"$WORK/timeline.err" || return 1
    grep -q "warning: the model's weights are a random initialisation" "$WORK/timeline.err" &&
        grep -q "warning: no face found in any frame used" "$WORK/timeline.err" || { echo "eri timeline warnings:"; cat "$WORK/timeline.err"; return 1; }
}
mkdir -p "$WORK/media-extra"
check "eri predict warns of random weights, a missing audio track, a 120 s file and no face (stderr and JSON, face_coverage); --windows; eri timeline warns too" cli_warnings

cli_eval() {
    "$ERI" synth --out "$WORK/corpus" --clips 12 --seed 5 &&
        "$ERI" eval --model "$WORK/tiny.eri" --data "$WORK/corpus" --split all --predictions "$WORK/eval-all.csv" | tee "$WORK/eval.out" &&
        "$ERI" eval --model "$WORK/tiny.eri" --data "$WORK/corpus" --split all --drop audio --predictions "$WORK/eval-video.csv" | tee -a "$WORK/eval.out" &&
        grep -q "^all: 12 clips, mean PCC" "$WORK/eval.out" && grep -q "^all without audio: 12 clips" "$WORK/eval.out" &&
        [ "$(wc -l <"$WORK/eval-all.csv")" = 13 ] && ! cmp -s "$WORK/eval-all.csv" "$WORK/eval-video.csv" || return 1
    if "$ERI" eval --model "$WORK/tiny.eri" --data "$WORK/corpus" --split every 2>"$WORK/cli.err"; then echo "--split every accepted"; return 1; fi
    grep -q "train, val, test or all" "$WORK/cli.err" || return 1
    # The installed detector searched the clips' frames (SPEC §4.1a); --faces takes auto, detect or none;
    # eri train --face-model naming no file stops before decoding anything, saying why.
    grep -q "^faces: detected in [0-9.]* % of 96 frames" "$WORK/eval.out" || { echo "no face detection rate"; return 1; }
    if "$ERI" eval --model "$WORK/tiny.eri" --data "$WORK/corpus" --faces maybe 2>"$WORK/cli.err"; then echo "--faces maybe accepted"; return 1; fi
    grep -q "auto, detect or none" "$WORK/cli.err" || return 1
    if "$ERI" train --preset dbn-tiny --data "$WORK/corpus" --epochs 1 --out "$WORK/never.eri" --faces detect \
        --face-model "$WORK/no-such-weights.safetensors" 2>"$WORK/cli.err"; then echo "--faces detect without weights accepted"; return 1; fi
    grep -q "no-such-weights.safetensors: no such file" "$WORK/cli.err" && [ ! -e "$WORK/never.eri" ]
}
check "eri synth + eri eval --split all, --drop audio (a changed prediction CSV), faces detected, bad --split / --faces / --face-model refused" cli_eval

# -- C++ host
build_cpp() {
    # shellcheck disable=SC2046
    $CXX "${CXX_STRICT[@]}" "$HERE/test_cpp.cpp" -o "$WORK/test_cpp" $(pkg-config --cflags --libs eri)
}
check "test_cpp.cpp builds against the installed eri.hpp (${CXX_STRICT[*]})" build_cpp
if [ -x "$WORK/test_cpp" ]; then
    check "test_cpp (eri.hpp: RAII model, stream and model_ptr, exceptions)" env -u LD_LIBRARY_PATH "$WORK/test_cpp" "$WORK/bad/wrong_shape.eri" "${MODELS[@]}"
else
    not_ok "test_cpp" "not built"
fi

# -- Python ctypes host
check "test_ctypes.py (the C API called through liberi._capi)" \
    env ERI_LIBRARY="$LIB" ERI_PREFIX="$ERI_PREFIX" PYTHONPATH="$REPO/python" "$PYTHON" "$HERE/test_ctypes.py" "$WORK/bad" "${MODELS[@]}"

# -- safetensors interop (liberi ↔ Python safetensors ↔ the PyTorch reference)
check "pytest Tests/python (input conventions, results, safetensors interop, reference oracle, the face stage against facenet-pytorch and the real-face video; python/ with ERI_LIBRARY)" \
    env ERI_CLI="$ERI" ERI_PREFIX="$ERI_PREFIX" ERI_LIBRARY="$LIB" "$PYTHON" -m pytest -q -p no:cacheprovider "$REPO/Tests/python"
# The same input and result tests against the installed wheel, with the extras they can use (Pillow, pandas),
# and mypy --strict on the package's type hints.
wheel_extras() {
    local wheel
    wheel=$(ls "$REPO"/dist/liberi-*-py3-none-linux_*.whl) &&
        "$WORK/wheel-venv/bin/pip" install -q "$wheel[pandas]" pillow pytest mypy pandas-stubs &&
        (cd "$WORK" && env -u LD_LIBRARY_PATH -u ERI_LIBRARY -u PYTHONPATH ERI_CLI="$ERI" "$WORK/wheel-venv/bin/python" -m pytest -q \
            -p no:cacheprovider -W error::pytest.PytestUnraisableExceptionWarning "$REPO/Tests/python/test_inputs.py" "$REPO/Tests/python/test_results.py") &&
        (cd "$WORK" && "$WORK/wheel-venv/bin/mypy" --strict --cache-dir "$WORK/mypy-cache" "$REPO/python/liberi")
}
check "the wheel with [pandas] + Pillow: pytest test_inputs.py test_results.py from the install; mypy --strict python/liberi" wheel_extras

echo "host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
