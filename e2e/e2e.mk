# e2e/e2e.mk — the end-to-end suite (e2e/, scripts/e2e): real servers and clients in network
# namespaces, bin/netobserver with a stdout flusher, exact assertions on its records. Root.
#
# Not yet part of `make test`: it fails, exactly, on two gaps of our libebpf.so that the suite
# found (statistics of connections a process never closed before exiting; DNS over TCP not
# detected in the kernel). It joins `make test` when they are fixed. The e2e build tag keeps it
# out of `go test ./...` meanwhile.
.PHONY: e2e
e2e: $(BIN)/netobserver $(BIN)/libebpf.so
	BIN=$(abspath $(BIN)) GO=$(GO) scripts/e2e
