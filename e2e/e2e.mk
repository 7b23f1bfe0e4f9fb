# e2e/e2e.mk — the end-to-end suite (e2e/, scripts/e2e): real servers and clients in network
# namespaces, bin/netobserver with a stdout flusher, exact assertions on its records. Root.
# Part of `make test`. The e2e build tag keeps it out of `go test ./...`, which would run it a
# second time.
.PHONY: e2e
e2e: $(BIN)/netobserver $(BIN)/libebpf.so
	BIN=$(abspath $(BIN)) GO=$(GO) scripts/e2e
