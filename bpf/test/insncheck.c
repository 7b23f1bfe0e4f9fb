// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel-reach check: every BPF program must stay within 4096 instructions, the per-program limit
 * of kernels before 5.2 (BPF_MAXINSNS). Loads the embedded object exactly as libebpf.so does and
 * reports, per program, the instructions submitted to the kernel (after CO-RE relocation and
 * libbpf's helper fallbacks: the number old kernels limit) and the verifier's rewritten count.
 * Also prints, per program, the instructions the verifier processed (bpf_prog_info.verified_insns,
 * 5.16+; "-" before) and the time the whole object took to load, for `make kernel-matrix`.
 * Programs the running kernel cannot take by design are not loaded and say why: the fast tp_btf
 * socket test without the bpf_rdonly_cast kfunc (6.2), the header scan on bpf_loop without it (5.17),
 * and the tp_btf set (with its ring buffer
 * uprobe) when a BTF file stands in for the kernel's own (the library never loads them there either).
 * Fails loudly when BPF cannot be loaded at all.
 *
 * Usage: bpf-insncheck [--btf FILE]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "skel-open.h"

#define MAX_INSNS 4096

static int warn_only(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Why the running kernel cannot take prog by design (NULL: it must load). */
static const char *not_here(struct netobserver_bpf *skel, struct bpf_program *prog, const char *btf_path,
			    bool rdonly_cast, bool loop)
{
	const char *name = bpf_program__name(prog);
	size_t name_len = strlen(name);

	if (btf_path && !strncmp(bpf_program__section_name(prog), "tp_btf/", 7))
		return "tp_btf needs the kernel's own BTF";
	/* Every _rb program is a ring buffer build (the uprobes', the process events', the TLS
	 * plaintext and its header scan), and the rings map exists only with the tp_btf set. */
	if (btf_path && name_len > 3 && !strcmp(name + name_len - 3, "_rb"))
		return "ring buffer build, for the tp_btf set";
	if (prog == skel->progs.btf_sys_exit && !rdonly_cast)
		return "no bpf_rdonly_cast kfunc (6.2+)";
	if ((prog == skel->progs.http_loop_btf || prog == skel->progs.http_loop_tls_rb || prog == skel->progs.http_agg_btf ||
	     prog == skel->progs.redis_agg_btf) && !loop)
		return "no bpf_loop (5.17+)";
	return NULL;
}

int main(int argc, char **argv)
{
	const char *btf_path = argc == 3 && !strcmp(argv[1], "--btf") ? argv[2] : NULL;
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	struct netobserver_bpf *skel;
	struct bpf_program *prog;
	struct btf *vmlinux;
	bool rdonly_cast = false, loop;
	int over = 0, n = 0, err;
	double t0;

	if (argc != 1 && !btf_path) {
		fprintf(stderr, "usage: bpf-insncheck [--btf FILE]\n");
		return 2;
	}
	libbpf_set_print(warn_only);
	if (!btf_path && (vmlinux = btf__load_vmlinux_btf())) {
		rdonly_cast = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
		btf__free(vmlinux);
	}
	loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, (enum bpf_func_id)181 /* BPF_FUNC_loop */, NULL) == 1;
	skel = netobserver_open(&opts, btf_path != NULL);
	if (!skel) {
		fprintf(stderr, "insncheck: FAIL: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, skel->obj)
	{
		const char *why = not_here(skel, prog, btf_path, rdonly_cast, loop);

		if (why) {
			bpf_program__set_autoload(prog, false);
			printf("%-24s not loaded: %s\n", bpf_program__name(prog), why);
		}
	}
	if (btf_path) /* the ring buffer maps exist only for the tp_btf set */
		bpf_map__set_autocreate(skel->maps.rings, false);
	t0 = now_ms();
	err = netobserver_bpf__load(skel);
	t0 = now_ms() - t0;
	if (err) {
		fprintf(stderr, "insncheck: FAIL: the BPF programs do not load here (%s); run as root on a kernel "
				"with BPF and BTF\n", strerror(-err));
		netobserver_bpf__destroy(skel);
		return 1;
	}
	printf("%-24s %8s %10s %10s  %s\n", "program", "insns", "xlated", "verified", "section");
	bpf_object__for_each_program(prog, skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		size_t insns = bpf_program__insn_cnt(prog);
		char verified[16] = "-";

		if (!bpf_program__autoload(prog))
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
			fprintf(stderr, "insncheck: FAIL: no info for %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		if (info.verified_insns)
			snprintf(verified, sizeof(verified), "%u", info.verified_insns);
		printf("%-24s %8zu %10u %10s  %s%s\n", bpf_program__name(prog), insns, info.xlated_prog_len / 8,
		       verified, bpf_program__section_name(prog), insns > MAX_INSNS ? "  OVER THE 4096 LIMIT" : "");
		over += insns > MAX_INSNS;
		n++;
	}
	netobserver_bpf__destroy(skel);
	if (over) {
		fprintf(stderr, "insncheck: FAIL: %d of %d programs exceed %d instructions\n", over, n, MAX_INSNS);
		return 1;
	}
	printf("insncheck: ok: %d programs, each <= %d instructions, loaded in %.0f ms\n", n, MAX_INSNS, t0);
	return 0;
}
