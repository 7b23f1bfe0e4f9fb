# accuracy/accuracy.mk — the accuracy tier (accuracy/, scripts/accuracy): real load generators
# against real servers in network namespaces, bin/netobserver live, recorded calls compared exactly
# with the clients' own reports and the servers' own counts; prints the README's accuracy table.
# Root. Part of `make test`, after e2e. The accuracy build tag keeps it out of `go test ./...`.
.PHONY: accuracy
accuracy: $(BIN)/netobserver $(BIN)/libebpf.so
	BIN=$(abspath $(BIN)) GO=$(GO) scripts/accuracy
