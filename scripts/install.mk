# Host install (scripts/install.sh): the binary and libebpf.so side by side in
# $(PREFIX)/lib/netobserver, a $(PREFIX)/bin symlink, the systemd unit and the example config
# (never overwriting one). Included by the top-level Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=staging-root] [SYSCONFDIR=/etc] [UNITDIR=…]
#   make uninstall (same settings)
#   make install-test   installs into a temporary DESTDIR and checks the result
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL_ENV = PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' SYSCONFDIR='$(SYSCONFDIR)' UNITDIR='$(UNITDIR)' BIN='$(abspath $(BIN))'

.PHONY: install uninstall install-test

install: $(BIN)/netobserver $(BIN)/libebpf.so
	$(INSTALL_ENV) bash scripts/install.sh install

uninstall:
	$(INSTALL_ENV) bash scripts/install.sh uninstall

# The test drives `make install`/`make uninstall` through the Makefile that included this one.
install-test: $(BIN)/netobserver $(BIN)/libebpf.so
	BIN='$(abspath $(BIN))' MAKE_INSTALL='$(MAKE) --no-print-directory -f $(abspath $(firstword $(MAKEFILE_LIST))) BIN=$(abspath $(BIN))' \
		bash scripts/install-test.sh
