# liberi — build, install, test. `make` builds the self-contained liberi.so and the eri tool.
#
#   make                 liberi.so (+ bin eri) in .build/release, and the face detector's weights (make models)
#   make models          .build/models/face-mtcnn.safetensors: MTCNN weights from the facenet-pytorch 2.6.0
#                        wheel (pip download, checksum pinned; scripts/convert_mtcnn.py, standard library only)
#   make install PREFIX=/opt/eri   lib/liberi.so, include/eri.h + eri.hpp, pkg-config eri, CMake eri::eri, bin/eri,
#                        share/eri/face-mtcnn.safetensors
#   make test            Swift tests, PyTorch/librosa parity, C / C++ / Python host tests, scale-out tests
#   make scale-test      eri cache build, the PyTorch twin under torchrun (gloo), ONNX export, Ray scoring
#   make wheel           dist/liberi-VERSION-py3-none-linux_ARCH.whl: the Python package with liberi.so inside
#   make deps            Debian packages (apt-get; sudo when not root)
#   make venv            Python venv (.venv) with the reference oracle's pinned packages
#   make demo            synthesise a corpus, train, evaluate and predict end to end
#   make fuzz            the libFuzzer harnesses (Tests/fuzz) over an ASan + coverage build, FUZZ_SECONDS each
#   make sanitize        the Swift tests under ASan, the threaded suites under TSan, the C hosts under ASan + UBSan
#   make bench           liberi vs ONNX Runtime, PyTorch, librosa (benchmarks/latest.md);
#                        BASELINE=path/to/eri-bench adds an earlier build's times to the same rows

PREFIX ?= /usr/local
VERSION_MAJOR := $(shell sed -n 's/^\#define ERI_VERSION_MAJOR \([0-9]*\)/\1/p' include/eri.h)
VERSION_MINOR := $(shell sed -n 's/^\#define ERI_VERSION_MINOR \([0-9]*\)/\1/p' include/eri.h)
VERSION_PATCH := $(shell sed -n 's/^\#define ERI_VERSION_PATCH \([0-9]*\)/\1/p' include/eri.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
# The CMake package (cmake/*.cmake.in): version parts and the pointer width liberi.so is built for.
CMAKE_SUBST := -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
	-e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e "s|@SIZEOF_VOID_P@|$$(( $$(getconf LONG_BIT) / 8 ))|g"

# -static-stdlib puts the Swift runtime inside liberi.so; lld drops the GOT
# references that would otherwise leave Swift symbols in .dynsym.
SWIFT_RELEASE := swift build -c release -Xswiftc -static-stdlib -Xswiftc -use-ld=lld
RELEASE_DIR := .build/release
LIB := $(RELEASE_DIR)/liberi.so
CLI := $(RELEASE_DIR)/eri-cli

VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
DEBIAN_PACKAGES := libopenblas-dev libsndfile1-dev libavformat-dev libavcodec-dev libswscale-dev \
	libswresample-dev libavutil-dev ffmpeg pkg-config python3-venv python3-pip librsvg2-bin cmake libc6-dev-arm64-cross
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST_PREFIX := $(CURDIR)/.build/host-prefix
# The face detector's weights: built, never downloaded at run time. Any python3 with pip
# fetches the wheel (no venv needed); the converter uses the standard library only.
PYTHON3 ?= python3
MODELS_DIR := .build/models
MTCNN_WHEEL := $(MODELS_DIR)/facenet_pytorch-2.6.0-py3-none-any.whl
FACE_MODEL := $(MODELS_DIR)/face-mtcnn.safetensors

.PHONY: all models deps venv install uninstall test swift-test host-test python-test scale-test examples wheel clean check-exports check-layers check-aarch64 bench demo \
	fuzz sanitize sanitize-asan sanitize-tsan sanitize-host sanitize-host-tsan

all: models
	$(SWIFT_RELEASE)
	@$(MAKE) --no-print-directory check-exports

# Fails the build if liberi.so needs a Swift runtime or exports anything but eri_*.
check-exports:
	@if ldd $(LIB) | grep -q libswift; then echo "liberi.so depends on the Swift runtime:"; ldd $(LIB) | grep libswift; exit 1; fi
	@bad=$$(nm -D --defined-only $(LIB) | awk '{print $$3}' | grep -v '^eri_' || true); \
	 if [ -n "$$bad" ]; then echo "liberi.so exports non-API symbols:"; echo "$$bad" | head; exit 1; fi
	@echo "liberi.so $(VERSION): self-contained, exports $$(nm -D --defined-only $(LIB) | wc -l) eri_* symbols"

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	 if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; else echo "Debian packages present"; fi

# MTCNN weights (SPEC §4.1a). The wheel is fetched once and kept; scripts/convert_mtcnn.py
# refuses it unless its sha256 is the pinned one. The safetensors file is rebuilt when the
# converter is newer.
models: $(FACE_MODEL)
$(FACE_MODEL): scripts/convert_mtcnn.py
	@mkdir -p $(MODELS_DIR)
	[ -f $(MTCNN_WHEEL) ] || $(PYTHON3) -m pip download -q --no-deps facenet-pytorch==2.6.0 -d $(MODELS_DIR)
	$(PYTHON3) scripts/convert_mtcnn.py $(MTCNN_WHEEL) $@ || \
	  { echo "make models: remove $(MTCNN_WHEEL) to download it again" >&2; exit 1; }

# torch: the CPU wheel pin first (a local wheel folder serves it on this kind of
# machine), then PyPI's plain torch. A requirement whose comment says --no-deps
# (facenet-pytorch) is installed on its own, after the rest, without its dependencies.
venv: $(VENV)/.stamp
$(VENV)/.stamp: reference/requirements.txt python/requirements-scale.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q "torch==2.13.0+cpu" || $(VENV)/bin/pip install -q torch
	grep -v '^torch' reference/requirements.txt | grep -v -- '--no-deps' | $(VENV)/bin/pip install -q -r /dev/stdin
	sed -n 's/^\([^# ]*\).*#.*--no-deps.*/\1/p' reference/requirements.txt | xargs -r $(VENV)/bin/pip install -q --no-deps
	$(VENV)/bin/pip install -q -r python/requirements-scale.txt
	touch $@

install: all models
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/lib/cmake/eri
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/liberi.so.$(VERSION)
	ln -sf liberi.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/liberi.so.$(VERSION_MAJOR)
	ln -sf liberi.so.$(VERSION_MAJOR) $(DESTDIR)$(PREFIX)/lib/liberi.so
	install -m 644 include/eri.h include/eri.hpp $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' pkgconfig/eri.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/eri.pc
	sed $(CMAKE_SUBST) cmake/eriConfig.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/eri/eriConfig.cmake
	sed $(CMAKE_SUBST) cmake/eriConfigVersion.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/eri/eriConfigVersion.cmake
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/eri
	install -d $(DESTDIR)$(PREFIX)/share/eri
	install -m 644 $(FACE_MODEL) $(DESTDIR)$(PREFIX)/share/eri/face-mtcnn.safetensors

uninstall:
	rm -f $(PREFIX)/lib/liberi.so* $(PREFIX)/include/eri.h $(PREFIX)/include/eri.hpp $(PREFIX)/lib/pkgconfig/eri.pc $(PREFIX)/bin/eri
	rm -f $(PREFIX)/lib/cmake/eri/eriConfig.cmake $(PREFIX)/lib/cmake/eri/eriConfigVersion.cmake
	if [ -d $(PREFIX)/lib/cmake/eri ]; then rmdir --ignore-fail-on-non-empty $(PREFIX)/lib/cmake/eri; fi
	rm -f $(PREFIX)/share/eri/face-mtcnn.safetensors
	if [ -d $(PREFIX)/share/eri ]; then rmdir --ignore-fail-on-non-empty $(PREFIX)/share/eri; fi

# The whole suite: Swift unit + parity tests, the reference's self-checks, then
# the hosts (C, C++, Python ctypes) against an installed copy.
test: deps venv all check-layers check-aarch64 swift-test python-test host-test scale-test

# Fails when a module imports one that stands after it in the data flow (scripts/check_layers.py).
check-layers:
	@python3 scripts/check_layers.py

# Then the parity suites again on the forced portable kernels (ERI_PORTABLE_KERNELS=1: no
# AVX2 + FMA path, OpenBLAS for every product), the path a CPU without AVX2 takes.
PORTABLE_SUITES := ActivationTests|NetworkParityTests|GradientParityTests|AlignedParityTests|DirectConvTests|DetectorKernelTests|SkinnyGEMMTests|WinogradTests|BatchAndThreadTests|StreamTests|MFCCParityTests|MFCCRangeTests
# liberi's C kernels (Sources/CERISupport) compiled for aarch64 with -Wall -Wextra -Werror:
# every x86 intrinsic must sit behind its guard, with portable C beside it. (The Swift
# modules are not built for aarch64 here: this toolchain has no aarch64 Swift SDK.)
CLANG := $(shell dirname "$$(readlink -f "$$(command -v swiftc)")")/clang
check-aarch64:
	@for f in Sources/CERISupport/*.c; do \
	   $(CLANG) --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include \
	     -O2 -Wall -Wextra -Werror -I Sources/CERISupport/include -I include -c $$f -o /dev/null || exit 1; done
	@echo "CERISupport's C kernels compile for aarch64 ($$(ls Sources/CERISupport/*.c | wc -l) files)"

swift-test: venv models
	ERI_PYTHON=$(CURDIR)/$(PYTHON) swift test
	ERI_PORTABLE_KERNELS=1 ERI_PYTHON=$(CURDIR)/$(PYTHON) swift test --skip-build --filter '$(PORTABLE_SUITES)'

python-test: venv models
	$(PYTHON) -m pytest -q reference/tests

host-test: venv all
	rm -rf $(HOST_PREFIX)
	$(MAKE) --no-print-directory install PREFIX=$(HOST_PREFIX)
	ERI_PREFIX=$(HOST_PREFIX) PYTHON=$(CURDIR)/$(PYTHON) bash Tests/host/run.sh

# Scaling out (issue 17, README "Scaling out"): eri cache build and its shards, the PyTorch twin under
# torchrun (gloo, 2 processes), ONNX export, Ray Data scoring (ERI_RAY_CLIPS clips, default 200).
scale-test: venv all models
	ERI_CLI=$(CURDIR)/$(CLI) ERI_LIBRARY=$(CURDIR)/$(LIB) ERI_FACE_MODEL=$(CURDIR)/$(FACE_MODEL) \
	  $(PYTHON) -m pytest -q -p no:warnings Tests/scale

# Fuzzing (Tests/fuzz/run.sh): liberi.so with coverage and AddressSanitizer in .build-fuzz, four
# libFuzzer harnesses (model file, media file, stream calls, C API arguments), FUZZ_SECONDS each;
# the corpora grow in .build-fuzz/corpus between runs. CI runs FUZZ_SECONDS=30.
FUZZ_SECONDS ?= 180
fuzz: venv models
	FUZZ_SECONDS=$(FUZZ_SECONDS) PYTHON=$(CURDIR)/$(PYTHON) bash Tests/fuzz/run.sh

# Sanitizers (Tests/sanitizers/README.md says what runs and why): the Swift tests under ASan (Swift
# has no UBSan on Linux; its overflow and bounds checks trap)
# in .build-asan, the suites that run threads under TSan in .build-tsan (Tests/sanitizers/tsan.supp:
# no entries needed), the C hosts (ASan + UBSan) against the ASan liberi.so of make fuzz.
SANITIZE_ASAN_FILTER ?=
# MemoryTests measures peak RSS against a bound, which ASan's shadow memory and quarantine break.
SANITIZE_ASAN_SKIP ?= MemoryTests
# Swift's crash backtracer reads other threads' stacks, which ASan reports; a failure still fails.
SANITIZER_ENV := SWIFT_BACKTRACE=enable=no ERI_PYTHON=$(CURDIR)/$(PYTHON)
SANITIZE_TSAN_FILTER ?= ParallelTests|BatchAndThreadTests|WinogradTests|TrainingKernelTests/sameResultsForAnyThreadCount
sanitize: sanitize-asan sanitize-tsan sanitize-host sanitize-host-tsan
sanitize-asan: venv models
	swift build --build-tests --sanitize=address --scratch-path .build-asan
	$(SANITIZER_ENV) ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
	  swift test --skip-build --sanitize=address --scratch-path .build-asan --skip '$(SANITIZE_ASAN_SKIP)' \
	  $(if $(SANITIZE_ASAN_FILTER),--filter '$(SANITIZE_ASAN_FILTER)')
sanitize-tsan: venv models
	swift build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SANITIZER_ENV) TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/Tests/sanitizers/tsan.supp \
	  swift test --skip-build --sanitize=thread --scratch-path .build-tsan --filter '$(SANITIZE_TSAN_FILTER)'
sanitize-host: venv all
	PYTHON=$(CURDIR)/$(PYTHON) bash Tests/sanitizers/host.sh asan
# The C API's thread stress (test_c, test_predict) against liberi.so built with TSan (.build-tsan-lib).
sanitize-host-tsan: venv all
	PYTHON=$(CURDIR)/$(PYTHON) bash Tests/sanitizers/host.sh tsan

examples: all
	$(MAKE) -C examples

# The Python package (python/) as a platform wheel with this build's liberi.so inside, in dist/:
# `pip install dist/liberi-*.whl` then needs no ERI_LIBRARY. pip builds it in a temporary copy of
# python/, so the source tree gets no build/ or *.egg-info. liberi.so links the system's OpenBLAS,
# FFmpeg and libsndfile (make deps); the wheel cannot carry them, hence linux_<arch>, not manylinux.
# WHEEL_PYTHON: the Python whose pip builds it (it fetches setuptools unless
# WHEEL_PIP_FLAGS=--no-build-isolation and that Python has setuptools >= 70.1).
WHEEL_PYTHON ?= python3
WHEEL_PIP_FLAGS ?=
wheel: all models
	@grep -q '^PACKAGE_VERSION = "$(VERSION)"$$' python/liberi/_version.py || \
	 { echo "python/liberi/_version.py is not $(VERSION) (include/eri.h)"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	 cp -R python "$$tmp/python" && rm -rf "$$tmp/python/build" "$$tmp/python/liberi/liberi.so" "$$tmp/python/liberi/face-mtcnn.safetensors" "$$tmp"/python/*.egg-info && \
	 LIBERI_SO="$(CURDIR)/$(LIB)" LIBERI_FACE_MODEL="$(CURDIR)/$(FACE_MODEL)" $(WHEEL_PYTHON) -m pip wheel -q --no-deps $(WHEEL_PIP_FLAGS) -w "$$tmp/dist" "$$tmp/python" && \
	 mkdir -p dist && rm -f dist/liberi-*.whl && cp "$$tmp"/dist/liberi-*.whl dist/ && \
	 echo "$$(ls dist/liberi-*.whl): liberi $(VERSION) with liberi.so and the face detector; pip install it (needs numpy)"

# The main job end to end: synthesise a corpus, train dbn-small, evaluate, predict (scripts/demo.sh).
demo: deps venv all
	PYTHON=$(CURDIR)/$(PYTHON) bash scripts/demo.sh

# Side-by-side benchmark (not a test): liberi vs ONNX Runtime, PyTorch, librosa → benchmarks/latest.md.
# Run it on an otherwise idle machine; the header reports how much CPU other processes used.
bench: venv
	$(SWIFT_RELEASE) --product eri-bench
	$(PYTHON) benchmarks/bench.py --liberi-bench $(RELEASE_DIR)/eri-bench $(if $(BASELINE),--baseline-bench $(BASELINE))

clean:
	rm -rf .build build
