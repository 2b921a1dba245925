SHELL := /bin/bash
# Kestrel front door. Every target installs missing Debian packages
# (scripts/setup-deps, a no-op when all are present), configures and builds what
# it needs, then runs. See README.md.
.PHONY: all demo test bench bench-baseline asan-test fuzz deps build clean

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BENCH_DIR := build/bench
FUZZ_SECONDS ?= 60
DEMO_BENCH := MlKem(KeyGen|Encaps|Decaps)/set:768/|MlDsa(KeyGen|Sign|Verify)/set:1/|Ed25519|X25519|Sha256/bytes:64/|AeadSeal/1024
# The micro-benchmarks tracked in bench/baseline.json (docs/performance.md), and
# how much worse (CPU time per iteration) `make bench` tolerates before failing.
BASELINE_BENCH := $(DEMO_BENCH)|KeccakF1600|CodecEncode1KB|VerifyCacheHit
BENCH_THRESHOLD ?= 10%

all: build

deps:
	@scripts/setup-deps

build/release/build.ninja:
	cmake --preset release >/dev/null

build: deps build/release/build.ninja
	cmake --build --preset release -j $(JOBS)

DEMO_SECONDS ?= 30
DEMO_RATE ?= 1500
demo: build
	@echo "== make demo: a real 4-validator cluster on loopback (kestrel demo): ML-DSA-65-signed"
	@echo "==     transfers over encrypted sessions for $(DEMO_SECONDS) s; Ctrl-C stops it and still prints the summary."
	@build/release/apps/kestrel/kestrel demo --duration $(DEMO_SECONDS) --rate $(DEMO_RATE)

# CTest in build/$(1) with the extra arguments $(2): its summary and failed tests,
# then why each failed (scripts/ctest-failures) and where the full log is.
run_ctest = cd build/$(1) && ctest -j $(JOBS) --output-on-failure $(2) 2>&1 | tee ctest.log | \
	  grep -E '^[0-9]+% tests passed|tests failed|\((Failed|Timeout|SEGFAULT|Subprocess aborted|Not Run)\)' ; \
	  rc=$${PIPESTATUS[0]}; [ $$rc -eq 0 ] || { $(CURDIR)/scripts/ctest-failures ctest.log; \
	  echo "== full log: build/$(1)/ctest.log"; }; exit $$rc

test: build
	$(call run_ctest,release,--timeout 900)

# Plots need gnuplot (and jq), installed for this target only (setup-deps --bench).
BENCH_SWEEP ?= 20000,60000,100000,140000,180000
bench: build
	@scripts/setup-deps --bench
	@mkdir -p $(BENCH_DIR)
	build/release/bench/kestrel-microbench --benchmark_repetitions=5 \
	  --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
	  --benchmark_out=$(BENCH_DIR)/micro.json --benchmark_out_format=json
	@echo "== JSON written to $(BENCH_DIR)/micro.json"
	build/release/apps/kestrel/kestrel bench net --reps 3 --json $(BENCH_DIR)/net.json
	build/release/apps/kestrel/kestrel bench cluster --raw --sweep $(BENCH_SWEEP) --duration 10 \
	  --json $(BENCH_DIR)/cluster-raw-sweep.json
	build/release/apps/kestrel/kestrel bench cluster --raw --ab net.adaptive_batching --pairs 3 --rate 100000 \
	  --duration 8 --json $(BENCH_DIR)/cluster-ab.json
	scripts/bench-plots $(BENCH_DIR)
	build/release/apps/kestrel/kestrel bench compare bench/baseline.json $(BENCH_DIR)/micro.json \
	  --threshold $(BENCH_THRESHOLD) --time cpu

# Refreshes the committed baseline. Deliberate only (no other target runs it):
# run on the machine the comparisons run on, then commit bench/baseline.json
# saying why it moved.
bench-baseline: build
	build/release/bench/kestrel-microbench --benchmark_repetitions=5 \
	  --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
	  --benchmark_filter='$(BASELINE_BENCH)' \
	  --benchmark_out=bench/baseline.json --benchmark_out_format=json

# The sanitizer suite skips tests labelled `valgrind` (constant-time checks):
# valgrind cannot run ASan binaries, and those checks run in `make test`.
build/asan/build.ninja:
	cmake --preset asan >/dev/null

asan-test: deps build/asan/build.ninja
	cmake --build --preset asan -j $(JOBS)
	$(call run_ctest,asan,--timeout 1800 -LE "valgrind|sweep")

# libFuzzer targets need clang (installed only for this target).
fuzz:
	@scripts/setup-deps --fuzz
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS) --target codec_fuzz hotstuff2_messages_fuzz transaction_fuzz \
	  handshake_fuzz frame_fuzz dag_messages_fuzz
	@mkdir -p build/fuzz/corpus/codec build/fuzz/corpus/hotstuff2_messages build/fuzz/corpus/transaction \
	  build/fuzz/corpus/handshake build/fuzz/corpus/frame build/fuzz/corpus/dag_messages
	build/fuzz/src/common/codec_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  build/fuzz/corpus/codec src/common/fuzz_corpus/codec
	build/fuzz/src/hotstuff2/hotstuff2_messages_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  build/fuzz/corpus/hotstuff2_messages src/hotstuff2/fuzz_corpus/messages
	build/fuzz/src/execution/transaction_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=16500 \
	  build/fuzz/corpus/transaction src/execution/fuzz_corpus/transaction
	build/fuzz/src/net/handshake_fuzz -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/handshake \
	  src/net/fuzz_corpus/handshake
	build/fuzz/src/net/frame_fuzz -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/frame src/net/fuzz_corpus/frame
	build/fuzz/src/dag/dag_messages_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  build/fuzz/corpus/dag_messages src/dag/fuzz_corpus/messages

clean:
	rm -rf build
