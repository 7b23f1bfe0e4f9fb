# scripts/bench.mk — overhead of the real observer (scripts/bench-observer.sh): bin/netobserver with
# flusher_jsonl (tmpfs) + flusher_prometheus_exporter, capturing live through bin/libebpf.so, against
# nginx + wrk, redis-benchmark and dd, rounds alternating off/on; then observer CPU, RSS and lost
# events at paced request rates, idle CPU, RSS with 10 000 and 100 000 idle keep-alive connections,
# and the latency it adds (redis-benchmark -c 1, HTTP at 5 000 req/s), each against its target. Root.
#
#   make bench-observer [ROUNDS=3] [DURATION=5]   (more knobs at the top of the script)
#
# Included by the top-level Makefile (which adds bench-observer, bench-bpf and bench-tls to `make bench`).
.PHONY: bench-observer

$(BIN)/connhold: tools/connhold/main.go go.mod
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $@ ./tools/connhold

$(BIN)/pace: tools/pace/main.go go.mod
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $@ ./tools/pace

bench-observer: $(BIN)/netobserver $(BIN)/libebpf.so $(BIN)/connhold $(BIN)/pace
	scripts/bench-observer.sh $(BIN)

# A/B of the observer at another revision against this tree's build, interleaved in one run (nginx +
# wrk CPU per request: off, BASE, bin/). BASE is built in a temporary git worktree, then removed.
#
#   make bench-compare BASE=<git rev> [ROUNDS=4] [DURATION=5] [RATE=<req/s>: tools/pace at that rate]
.PHONY: bench-compare
bench-compare: $(BIN)/netobserver $(BIN)/libebpf.so $(BIN)/pace
	@test -n "$(BASE)" || { echo "make bench-compare: BASE=<git rev> is required" >&2; exit 2; }
	@wt=$$(mktemp -d /tmp/netobserver-base.XXXXXX) && \
	git worktree add -q --detach "$$wt" "$(BASE)" && \
	{ $(MAKE) --no-print-directory -C "$$wt" BIN=bin bin/netobserver bin/libebpf.so >/dev/null && \
	  scripts/bench-compare.sh "$$wt/bin" $(BIN); rc=$$?; } ; \
	git worktree remove --force "$$wt"; exit $${rc:-1}

# The kernel side's own cost from kernel.bpf_stats_enabled (scripts/bench-bpf.sh): BPF run time per
# nginx request with both ends observed, and per syscall the observer does not follow, against an
# empty program on the same tracepoint. Root.
#
#   make bench-bpf [ROUNDS=3] [DURATION=5] [PROFILE=1]
.PHONY: bench-bpf
bench-bpf: $(BIN)/netobserver $(BIN)/libebpf.so $(BIN)/bpf-floor $(BIN)/bpf-sysbench
	scripts/bench-bpf.sh $(BIN)

# The TLS probes' cost (scripts/bench-tls.sh: OpenSSL, h2load → nginx over TLS, probes off / empty
# uprobes at the same points / on; scripts/bench-gotls.sh: Go crypto/tls, tools/gotlspair, the
# probes' BPF run time per request from kernel.bpf_stats_enabled). Root.
#
#   make bench-tls [ROUNDS=2] [N=10000]
.PHONY: bench-tls
bench-tls: $(BIN)/netobserver $(BIN)/libebpf.so $(BIN)/bpf-floor
	scripts/bench-tls.sh $(BIN)
	scripts/bench-gotls.sh $(BIN)
