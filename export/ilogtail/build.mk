# The iLogtail plugin adapter, export/ilogtail: its own Go module, so the main module never depends
# on github.com/alibaba/ilogtail/pkg (not on the module proxy). Included by the top-level Makefile.
# Both targets use iLogtail's real source in ../shared/ilogtail (ILOGTAIL_SRC), beside the checkout;
# it is read-only and is never written to.
#
# plugin-check builds, vets and tests the plugin against iLogtail's plugin API module
# ($(ILOGTAIL_SRC)/pkg). It comes in through a generated Go workspace ($(PLUGIN_WORK), whose
# replace points github.com/alibaba/ilogtail/pkg at it), never through the plugin's go.mod, which
# stays exactly what a real iLogtail build needs. It also fails when go.mod/go.sum are not tidy —
# the main module's dependencies changed — and then `make plugin-tidy` rewrites them.
#
# plugin-ilogtail builds the plugin into a temporary copy of iLogtail's tree with iLogtail's own
# builder and tests it there (plugin-ilogtail.sh).
PLUGIN_DIR := export/ilogtail
ILOGTAIL_SRC ?= $(abspath ../shared/ilogtail)
PLUGIN_WORK = $(abspath $(BIN))/plugin-check/go.work
# The plugin's go.mod plus a replace of iLogtail's pkg, for `go mod tidy`, which ignores workspaces.
PLUGIN_TIDY_MOD = $(abspath $(BIN))/plugin-tidy/go.mod

.PHONY: plugin-check plugin-tidy plugin-work plugin-tidy-mod plugin-ilogtail

plugin-check: $(BIN)/libebpf-replay.so plugin-work plugin-tidy-mod
	cd $(PLUGIN_DIR) && GOWORK=$(PLUGIN_WORK) $(GO) build ./...
	cd $(PLUGIN_DIR) && GOWORK=$(PLUGIN_WORK) $(GO) vet ./...
	cd $(PLUGIN_DIR) && GOWORK=$(PLUGIN_WORK) NETOBSERVER_BIN=$(abspath $(BIN)) $(GO) test -count=1 ./...
	@cd $(PLUGIN_DIR) && GOWORK=off $(GO) mod tidy -diff -modfile=$(PLUGIN_TIDY_MOD) >/dev/null || \
		{ echo "$(PLUGIN_DIR)/go.mod or go.sum is not tidy: run make plugin-tidy"; exit 1; }

plugin-tidy: plugin-tidy-mod
	cd $(PLUGIN_DIR) && GOWORK=off $(GO) mod tidy -modfile=$(PLUGIN_TIDY_MOD)
	grep -v '^replace github.com/alibaba/ilogtail/pkg ' $(PLUGIN_TIDY_MOD) | cat -s | sed '$${/^$$/d}' > $(PLUGIN_DIR)/go.mod
	cp $(basename $(PLUGIN_TIDY_MOD)).sum $(PLUGIN_DIR)/go.sum

plugin-ilogtail: $(BIN)/libebpf-replay.so
	bash $(PLUGIN_DIR)/plugin-ilogtail.sh . $(ILOGTAIL_SRC) $(BIN)

plugin-work: ilogtail-src
	@mkdir -p $(dir $(PLUGIN_WORK))
	@rm -f $(PLUGIN_WORK).sum # checksums go.sum lacks land there; the tidy check names that instead
	@printf 'go %s\n\nuse %s\n\nreplace github.com/alibaba/ilogtail/pkg => %s\n' \
		"$$($(GO) env GOVERSION | sed 's/^go//')" $(abspath $(PLUGIN_DIR)) $(ILOGTAIL_SRC)/pkg > $(PLUGIN_WORK)

plugin-tidy-mod: ilogtail-src
	@mkdir -p $(dir $(PLUGIN_TIDY_MOD))
	@{ cat $(PLUGIN_DIR)/go.mod; echo; echo 'replace github.com/alibaba/ilogtail/pkg => $(ILOGTAIL_SRC)/pkg'; } > $(PLUGIN_TIDY_MOD)
	@cp $(PLUGIN_DIR)/go.sum $(basename $(PLUGIN_TIDY_MOD)).sum

.PHONY: ilogtail-src
ilogtail-src:
	@test -f $(ILOGTAIL_SRC)/pkg/go.mod || \
		{ echo "$(ILOGTAIL_SRC)/pkg/go.mod is missing: iLogtail's source must be beside the checkout (../shared/ilogtail) or named by ILOGTAIL_SRC"; exit 1; }
