# FerryMQ top-level commands. CMake does the building; this file only names
# the everyday jobs so that a fresh Debian 12 machine needs one command each.
PRESET ?= debug
JOBS   ?= $(shell nproc)

.PHONY: all deps build test test-asan test-fuzz fuzz-build bench-codec run format clean

all: build

deps:
	bash scripts/deps.sh

build: deps
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET) -j $(JOBS)

# Builds everything and runs every test (unit, corpus replays, integration).
test: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)
	ctest --preset debug -j $(JOBS)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	cmake --preset asan-ubsan >/dev/null
	cmake --build --preset asan-ubsan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --preset asan-ubsan -j $(JOBS)

# libFuzzer targets (clang); CTest replays the checked-in corpora through them.
fuzz-build: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)

test-fuzz: fuzz-build
	ctest --preset fuzz -j $(JOBS) -L fuzz

# Codec micro-benchmark (release build); not part of `make test`.
bench-codec: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target codec_bench
	build/release/bench/codec_bench

# Builds a release broker and runs it in the foreground on 127.0.0.1:1883.
run: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target ferrymq
	build/release/src/broker/ferrymq --listen 127.0.0.1:1883 $(ARGS)

# Side by side with Debian's mosquitto (ferrybench workloads, 3 repetitions,
# medians, ratios): about 10 minutes; not part of `make test`. See
# bench/README.md. BENCH_CMAKE_ARGS goes to the configure step, e.g.
# -DFMQ_WERROR=OFF when an -O2-only warning elsewhere stops the release build.
BENCH_CMAKE_ARGS ?=
.PHONY: bench
bench: deps
	cmake --preset release $(BENCH_CMAKE_ARGS) >/dev/null
	cmake --build --preset release -j2
	bash bench/side_by_side.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

# The cluster benchmark: cross-node vs single-node throughput, convergence
# with 100k routes (bench/cluster.sh, bench/README.md). Not run by CI.
.PHONY: bench-cluster
bench-cluster: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j2 --target ferrymq ferrybench
	bash bench/cluster.sh

# The main job: a Rolling and then a BlueGreen upgrade of a 3-node local
# cluster behind HAProxy, under 5,000 persistent QoS 1 clients, measured and
# reported (scripts/demo.sh; report in demo-report/index.html). Settings are
# environment variables, e.g. `make demo CLIENTS=2000` or LB=kernel (root).
DEMO_TARGETS = ferrymq ferrybench ferry-operator
.PHONY: demo demo-quick
demo: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target $(DEMO_TARGETS)
	bash scripts/demo.sh

# The same with 1,000 clients and short waits: under 3 minutes.
demo-quick: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target $(DEMO_TARGETS)
	CLIENTS=$${CLIENTS:-1000} INITIAL_DELAY=$${INITIAL_DELAY:-5} SETTLE=$${SETTLE:-5} \
	  bash scripts/demo.sh
