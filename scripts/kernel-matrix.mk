# scripts/kernel-matrix.mk — make kernel-matrix: our capture tests in other kernels under qemu
# (scripts/kernel-matrix.sh). Root, minutes, not part of `make test`.
.PHONY: kernel-matrix
kernel-matrix: $(BIN)/netobserver $(BIN)/libebpf.so $(BIN)/bpf-dropin $(BIN)/bpf-insncheck $(BIN)/bpf-sysbench $(BIN)/bpf-floor
	BIN=$(abspath $(BIN)) scripts/kernel-matrix.sh
