# bpf/build.mk — our libebpf.so (CO-RE BPF programs + libbpf loader) and its tests.
# Included by the top-level Makefile; paths are relative to the repository root.

BIN ?= bin
BPF_OBJ := $(BIN)/obj/bpf
BPF_CLANG ?= clang
BPFTOOL ?= bpftool
BPF_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

BPF_PROG_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Wextra \
	-Iinclude -Ibpf -I/usr/include/$(shell uname -m)-linux-gnu
# No identical-code folding: the four uprobe stubs must stay four functions.
BPF_NOICF := $(shell $(CC) -fno-ipa-icf -E -x c /dev/null >/dev/null 2>&1 && echo -fno-ipa-icf)
BPF_LIB_CFLAGS := -O2 -g -fPIC -fvisibility=hidden $(BPF_NOICF) -Wall -Wextra \
	-Iinclude -Ibpf -I$(BPF_OBJ) -DNETOBSERVER_VERSION='"$(BPF_VERSION)"'
BPF_TEST_CFLAGS := -O2 -g -Wall -Wextra -Iinclude -Ibpf -I$(BPF_OBJ)

$(BPF_OBJ)/netobserver.bpf.o: bpf/netobserver.bpf.c bpf/core.h bpf/shared.h bpf/detect.h include/libebpf.h
	@mkdir -p $(@D)
	$(BPF_CLANG) $(BPF_PROG_CFLAGS) -c $< -o $@

$(BPF_OBJ)/netobserver.skel.h: $(BPF_OBJ)/netobserver.bpf.o
	$(BPFTOOL) gen skeleton $< name netobserver_bpf > $@.tmp && mv $@.tmp $@

# The same programs without the kfunc extern, for kernels without their own BTF (netobserver.bpf.c says
# why); the loader and insncheck take only its ELF bytes.
$(BPF_OBJ)/netobserver-btffile.bpf.o: bpf/netobserver.bpf.c bpf/core.h bpf/shared.h bpf/detect.h include/libebpf.h
	@mkdir -p $(@D)
	$(BPF_CLANG) $(BPF_PROG_CFLAGS) -DNETOBSERVER_NO_KFUNC -c $< -o $@

$(BPF_OBJ)/netobserver-btffile.skel.h: $(BPF_OBJ)/netobserver-btffile.bpf.o
	$(BPFTOOL) gen skeleton $< name netobserver_btffile_bpf > $@.tmp && mv $@.tmp $@

$(BIN)/libebpf.so: bpf/libebpf.c bpf/shared.h include/libebpf.h $(BPF_OBJ)/netobserver.skel.h $(BPF_OBJ)/netobserver-btffile.skel.h
	@mkdir -p $(@D)
	$(CC) $(BPF_LIB_CFLAGS) -shared -Wl,-z,defs -o $@ $< -lbpf

$(BIN)/bpf-dropin: bpf/test/dropin.c include/libebpf.h
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -o $@ $< -ldl -lpthread

# libFuzzer target of the protocol detection (bpf/detect.h as user-space C, with AddressSanitizer):
# clang's fuzzer and sanitizer runtimes come with libclang-rt-dev. `make fuzz` runs it.
$(BIN)/bpf-detectfuzz: bpf/test/detectfuzz.c bpf/detect.h include/libebpf.h
	@mkdir -p $(@D)
	$(BPF_CLANG) -g -O1 -fsanitize=fuzzer,address -Wall -Wextra -Iinclude -Ibpf -o $@ $<

$(BIN)/bpf-sysbench: bpf/test/sysbench.c
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -o $@ $<

$(BPF_OBJ)/floor.bpf.o: bpf/test/floor.bpf.c
	@mkdir -p $(@D)
	$(BPF_CLANG) $(BPF_PROG_CFLAGS) -c $< -o $@

$(BPF_OBJ)/floor.skel.h: $(BPF_OBJ)/floor.bpf.o
	$(BPFTOOL) gen skeleton $< name floor_bpf > $@.tmp && mv $@.tmp $@

# A diagnostic beside benchmarks (scripts/ringfill.c says how); built with the rest so it cannot rot.
$(BIN)/ringfill: scripts/ringfill.c
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -o $@ $< -lbpf

$(BIN)/bpf-floor: bpf/test/floor.c $(BPF_OBJ)/floor.skel.h
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -o $@ $< -lbpf

$(BIN)/bpf-insncheck: bpf/test/insncheck.c bpf/skel-open.h $(BPF_OBJ)/netobserver.skel.h $(BPF_OBJ)/netobserver-btffile.skel.h
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -o $@ $< -lbpf

$(BIN)/bpf-ssloffsets: bpf/test/ssloffsets.c
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -o $@ $< -lssl -lcrypto

# The same check against OpenSSL 1.1.1: Debian 11's libssl1.1 and its headers, which scripts/deps.sh
# fetches (never installs) into OPENSSL11.
OPENSSL11 ?= /var/cache/netobserver/openssl-1.1
OPENSSL11_LIB := $(OPENSSL11)/usr/lib/x86_64-linux-gnu
$(OPENSSL11)/.complete:
	@echo "OpenSSL 1.1 is missing from $(OPENSSL11): run 'make deps' (scripts/deps.sh fetches it)" >&2; exit 1

$(BIN)/bpf-ssloffsets11: bpf/test/ssloffsets.c $(OPENSSL11)/.complete
	@mkdir -p $(@D)
	$(CC) $(BPF_TEST_CFLAGS) -I$(OPENSSL11)/usr/include/x86_64-linux-gnu -I$(OPENSSL11)/usr/include \
		-o $@ $< -L$(OPENSSL11_LIB) -Wl,-rpath,$(OPENSSL11_LIB) -lssl -lcrypto

.PHONY: bpf-test bpf-bench
bpf-test: $(BIN)/libebpf.so $(BIN)/bpf-dropin $(BIN)/bpf-insncheck $(BIN)/bpf-ssloffsets $(BIN)/bpf-ssloffsets11
	$(BIN)/bpf-insncheck
	$(BIN)/bpf-ssloffsets
	$(BIN)/bpf-ssloffsets11
	bpf/test/check-stubs.sh $(BIN)/libebpf.so
	$(BIN)/bpf-dropin $(BIN)/libebpf.so
	NETOBSERVER_BPF_PORTABLE=1 $(BIN)/bpf-dropin $(BIN)/libebpf.so
	NETOBSERVER_BPF_NO_LOOP=1 $(BIN)/bpf-dropin $(BIN)/libebpf.so
	NETOBSERVER_BPF_HOOK=raw_tp $(BIN)/bpf-dropin $(BIN)/libebpf.so
	NETOBSERVER_BPF_HOOK=tracepoint $(BIN)/bpf-dropin $(BIN)/libebpf.so

bpf-bench: $(BIN)/libebpf.so $(BIN)/bpf-dropin $(BIN)/bpf-sysbench $(BIN)/bpf-floor
	scripts/bench-libebpf.sh $(BIN)/libebpf.so $(BIN)/bpf-dropin $(BIN)/bpf-sysbench $(BIN)/bpf-floor
