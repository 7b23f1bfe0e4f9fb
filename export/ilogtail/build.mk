# The iLogtail plugin adapter, export/ilogtail: its own Go module, so the main module never depends
# on github.com/alibaba/ilogtail/pkg (not on the module proxy). Included by the top-level Makefile.
#
# plugin-check builds, vets and tests the plugin against the stand-in module in
# testdata/ilogtail-pkg-standin (the §5 interfaces only, see its README.md). The stand-in comes in
# through a Go workspace file (GOWORK=…/plugin-check.work, whose replace points
# github.com/alibaba/ilogtail/pkg at it), never through the plugin's go.mod, which stays exactly what
# a real iLogtail build needs. It also fails when go.mod/go.sum are not tidy — the main module's
# dependencies changed — and then `make plugin-tidy` rewrites them.
PLUGIN_DIR := export/ilogtail
PLUGIN_STANDIN := $(abspath testdata/ilogtail-pkg-standin)
PLUGIN_WORK := $(PLUGIN_STANDIN)/plugin-check.work
# The plugin's go.mod plus a replace of the stand-in, for `go mod tidy`, which ignores workspaces.
PLUGIN_TIDY_MOD = $(abspath $(BIN))/plugin-tidy/go.mod

.PHONY: plugin-check plugin-tidy plugin-tidy-mod

plugin-check: $(BIN)/libebpf-replay.so plugin-tidy-mod
	@rm -f $(PLUGIN_WORK).sum # where the workspace writes checksums go.sum lacks; the tidy check below names that
	cd $(PLUGIN_STANDIN) && GOWORK=off $(GO) vet ./...
	cd $(PLUGIN_DIR) && GOWORK=$(PLUGIN_WORK) $(GO) build ./...
	cd $(PLUGIN_DIR) && GOWORK=$(PLUGIN_WORK) $(GO) vet ./...
	cd $(PLUGIN_DIR) && GOWORK=$(PLUGIN_WORK) NETOBSERVER_BIN=$(abspath $(BIN)) $(GO) test -count=1 ./...
	@cd $(PLUGIN_DIR) && GOWORK=off $(GO) mod tidy -diff -modfile=$(PLUGIN_TIDY_MOD) >/dev/null || \
		{ echo "$(PLUGIN_DIR)/go.mod or go.sum is not tidy: run make plugin-tidy"; exit 1; }
	@rm -f $(PLUGIN_WORK).sum

plugin-tidy: plugin-tidy-mod
	cd $(PLUGIN_DIR) && GOWORK=off $(GO) mod tidy -modfile=$(PLUGIN_TIDY_MOD)
	grep -v '^replace github.com/alibaba/ilogtail/pkg ' $(PLUGIN_TIDY_MOD) | cat -s > $(PLUGIN_DIR)/go.mod
	cp $(basename $(PLUGIN_TIDY_MOD)).sum $(PLUGIN_DIR)/go.sum

plugin-tidy-mod:
	@mkdir -p $(dir $(PLUGIN_TIDY_MOD))
	@{ cat $(PLUGIN_DIR)/go.mod; echo; echo 'replace github.com/alibaba/ilogtail/pkg => $(PLUGIN_STANDIN)'; } > $(PLUGIN_TIDY_MOD)
	@cp $(PLUGIN_DIR)/go.sum $(basename $(PLUGIN_TIDY_MOD)).sum
