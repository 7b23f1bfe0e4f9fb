# netobserver: `make run` and `make test` install what they need (as root), build and go.
SHELL := /bin/bash
BIN ?= bin
GO ?= go
CC ?= gcc
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CONFIG ?= testdata/config/example.yaml

CFLAGS_SO := -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -Iinclude -DNETOBSERVER_VERSION='"$(VERSION)"'
GO_LDFLAGS := -X main.version=$(VERSION)
GO_FILES := $(shell find . -name '*.go' -not -path './bin/*' -not -path './build/*')

.PHONY: all deps build test test-go lint run bench clean

all: build

deps:
	@bash scripts/deps.sh

build: $(BIN)/netobserver $(BIN)/libebpf.so $(BIN)/libebpf-replay.so $(BIN)/test/libebpf-missing-symbol.so $(BIN)/test/libebpf-hang.so \
	$(BIN)/test/libebpf-replay-noproc.so $(BIN)/ringfill

# Our libebpf.so: CO-RE BPF programs and their loader; also bpf-test and bpf-bench.
include bpf/build.mk
# The iLogtail plugin adapter (its own module): plugin-check, plugin-tidy, plugin-ilogtail.
include export/ilogtail/build.mk
# make install / uninstall / install-test.
include scripts/install.mk
# make e2e: the end-to-end suite with real servers and clients.
include e2e/e2e.mk
# make accuracy: recorded calls against real load generators' own counts.
include accuracy/accuracy.mk
# make bench-observer: the whole observer's overhead, CPU, memory and loss.
include scripts/bench.mk
# make kernel-matrix: the capture tests in other kernels, booted under qemu.
include scripts/kernel-matrix.mk
# make image, image-test, kubernetes-test: the container image and the DaemonSet.
include packaging/image/image.mk

$(BIN)/netobserver: $(GO_FILES) go.mod $(wildcard go.sum) include/libebpf.h $(wildcard cgo/libebpf/*.[ch])
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(GO_LDFLAGS)' -o $@ ./cmd/netobserver

# The replay library: the ABI over a trace file (testdata/README.md), for tests and offline runs.
$(BIN)/libebpf-replay.so: cgo/replay/replay.c include/libebpf.h
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS_SO) -fvisibility=hidden -shared -o $@ $< -ldl

# The same library with ebpf_get_next_key made local: the cgo layer must name the missing symbol.
$(BIN)/test/libebpf-missing-symbol.so: cgo/replay/replay.c include/libebpf.h
	@mkdir -p $(BIN)/test
	$(CC) $(CFLAGS_SO) -fvisibility=hidden -c -o $(BIN)/test/replay.o $<
	objcopy --localize-symbol=ebpf_get_next_key $(BIN)/test/replay.o $(BIN)/test/replay-missing.o
	$(CC) -shared -o $@ $(BIN)/test/replay-missing.o -ldl

# The replay library without the optional extensions, as Alibaba's library is: the observer must
# fall back to /proc (and the netlink process connector), and a stop drains until a short poll.
$(BIN)/test/libebpf-replay-noproc.so: cgo/replay/replay.c include/libebpf.h
	@mkdir -p $(BIN)/test
	$(CC) $(CFLAGS_SO) -fvisibility=hidden -c -o $(BIN)/test/replay-np.o $<
	objcopy --localize-symbol=netobserver_setup_process_func --localize-symbol=netobserver_detach \
		$(BIN)/test/replay-np.o $(BIN)/test/replay-noproc.o
	$(CC) -shared -o $@ $(BIN)/test/replay-noproc.o -ldl

# The replay library whose ebpf_init, ebpf_start, ebpf_poll_events or ebpf_stop (NETOBSERVER_REPLAY_HANG)
# never returns: the binary must give up on it in bounded time.
$(BIN)/test/libebpf-hang.so: cgo/replay/replay.c include/libebpf.h
	@mkdir -p $(BIN)/test
	$(CC) $(CFLAGS_SO) -DREPLAY_HANG -fvisibility=hidden -shared -o $@ $< -ldl

lint: pure
	@out=$$(gofmt -l $(GO_FILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The packages below the cgo layer build and vet without cgo; internal/layering's test (in
# test-go) checks that no package imports a layer above its own. Tests that play traces through
# the replay library (internal/replaytest) need cgo: those packages' tests are vetted by the
# vet above, with cgo, and their code by this build.
PURE_PKGS = ./abi/... ./record/... ./parser/... ./container/... ./observer/... ./export/...
.PHONY: pure
pure:
	CGO_ENABLED=0 $(GO) build $(PURE_PKGS)
	CGO_ENABLED=0 $(GO) vet $$(CGO_ENABLED=0 $(GO) list -f '{{.ImportPath}} {{.TestImports}} {{.XTestImports}}' $(PURE_PKGS) | \
		grep -v -e /internal/replaytest -e /cgo/libebpf | cut -d' ' -f1)

# The binary's tests and the kernel tests observe the whole host, as a deployment does, and count
# what they see: they run after the other packages, each alone (go test runs packages in parallel,
# and the others' curl, nginx and dockerd calls counted in the live histogram's exact totals and in
# the kernel aggregation's host-wide fallback counters — dockerd's API paths are longer than its
# key holds; their load moved the connection-churn soak's VmRSS by 8–14 MiB where alone it stays
# flat).
test-go: build
	NETOBSERVER_BIN=$(abspath $(BIN)) $(GO) test -count=1 $$($(GO) list ./... | grep -v -e '/cmd/netobserver$$' -e '/bpf/kerneltest$$')
	NETOBSERVER_BIN=$(abspath $(BIN)) $(GO) test -count=1 ./bpf/kerneltest
	NETOBSERVER_BIN=$(abspath $(BIN)) $(GO) test -count=1 ./cmd/netobserver

# The Go tests include the kernel tests (bpf/kerneltest, root); the C drop-in test runs after them
# so two capturing processes never overlap.
test: deps build lint test-go fuzz-short plugin-check plugin-ilogtail install-test e2e accuracy bpf-test \
	image-test kubernetes-test

# The seed documentation's pipeline: records on standard output every 5 s, live from the kernel.
run: deps build
	$(BIN)/netobserver --config $(CONFIG)

# Benchmarks print ratios measured in one run; see the README's performance section.
bench: deps build
	NETOBSERVER_BIN=$(abspath $(BIN)) taskset -c 0 $(GO) test -run '^$$' -bench Handoff -benchmem -cpu 1 -count 3 ./cgo/libebpf
	$(MAKE) --no-print-directory bpf-bench
	$(MAKE) --no-print-directory bench-bpf
	$(MAKE) --no-print-directory bench-observer
	$(MAKE) --no-print-directory bench-tls

clean:
	rm -rf $(BIN) build

# Fuzzing: every Go fuzz target, as package:target, then the C one of bpf/detect.h (libFuzzer,
# scripts/fuzz-libfuzzer.sh). `make test` runs each for FUZZTIME_SHORT after its seeds and crashers
# (testdata/fuzz) passed in test-go; `make fuzz` runs each for FUZZTIME. A crash leaves its input in
# the package's testdata/fuzz/<target> (the C target's: bin/bpf-detectfuzz-crash-*): commit it with
# the fix, and it runs in every `go test` from then on.
FUZZ_TARGETS := parser/http:FuzzParse parser/redis:FuzzParse parser/mysql:FuzzParse parser/pgsql:FuzzParse \
	parser/dns:FuzzParse parser/sqlnorm:FuzzNormalize observer/stream:FuzzBuffer observer/config:FuzzParse \
	container:FuzzContainerdContainer
FUZZ_TARGETS += parser/kafka:FuzzParse parser/memcached:FuzzParse parser/nats:FuzzParse \
	parser/mqtt:FuzzParse parser/amqp:FuzzParse parser/keymask:FuzzMask observer/calls:FuzzTracker \
	container:FuzzCommand
FUZZ_TARGETS += parser/http2:FuzzParse
FUZZ_TARGETS += cgo/detect:FuzzDetect observer/gotls:FuzzPclnLookup
FUZZTIME_SHORT ?= 15s
FUZZTIME ?= 2m

.PHONY: fuzz fuzz-short
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

fuzz: $(BIN)/bpf-detectfuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t%%:*} $${t##*:} for $(FUZZTIME)"; \
		scripts/fuzz-target.sh $${t%%:*} $${t##*:} $(FUZZTIME) $(GO); \
	done
	@echo "fuzz: bpf/detect.h, libFuzzer and AddressSanitizer ($(BIN)/bpf-detectfuzz) for $(FUZZTIME)"
	@scripts/fuzz-libfuzzer.sh $(BIN)/bpf-detectfuzz $(FUZZTIME)
