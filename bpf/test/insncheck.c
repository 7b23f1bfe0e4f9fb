// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel-reach check: every BPF program must stay within 4096 instructions, the per-program limit
 * of kernels before 5.2 (BPF_MAXINSNS). Loads the embedded object exactly as libebpf.so does and
 * reports, per program, the instructions submitted to the kernel (after CO-RE relocation and
 * libbpf's helper fallbacks: the number old kernels limit) and the verifier's rewritten count.
 * Fails loudly when BPF cannot be loaded at all.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netobserver.skel.h"

#define MAX_INSNS 4096

static int warn_only(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(void)
{
	struct netobserver_bpf *skel;
	struct bpf_program *prog;
	int over = 0, n = 0, err;

	libbpf_set_print(warn_only);
	skel = netobserver_bpf__open();
	if (!skel) {
		fprintf(stderr, "insncheck: FAIL: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	err = netobserver_bpf__load(skel);
	if (err) {
		fprintf(stderr, "insncheck: FAIL: the BPF programs do not load here (%s); run as root on a kernel "
				"with BPF and BTF\n", strerror(-err));
		netobserver_bpf__destroy(skel);
		return 1;
	}
	printf("%-24s %8s %10s\n", "program", "insns", "xlated");
	bpf_object__for_each_program(prog, skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		size_t insns = bpf_program__insn_cnt(prog);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
			fprintf(stderr, "insncheck: FAIL: no info for %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		printf("%-24s %8zu %10u%s\n", bpf_program__name(prog), insns, info.xlated_prog_len / 8,
		       insns > MAX_INSNS ? "  OVER THE 4096 LIMIT" : "");
		over += insns > MAX_INSNS;
		n++;
	}
	netobserver_bpf__destroy(skel);
	if (over) {
		fprintf(stderr, "insncheck: FAIL: %d of %d programs exceed %d instructions\n", over, n, MAX_INSNS);
		return 1;
	}
	printf("insncheck: ok: %d programs, each <= %d instructions\n", n, MAX_INSNS);
	return 0;
}
