// SPDX-License-Identifier: Apache-2.0
/*
 * bpf-floor: attaches one of floor.bpf.c's empty programs (default: the tp_btf sys_exit one), prints
 * "ready", and keeps it attached until SIGTERM or SIGINT.
 * Usage: bpf-floor [tp_btf|fentry|kprobe]   (root; fentry and kprobe on tcp_sendmsg)
 *        bpf-floor uprobe FILE OFFSET...      (an entry and a return probe at each file offset)
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "tp_btf";
	struct floor_bpf *skel = floor_bpf__open();
	struct bpf_program *prog;

	if (!skel) {
		fprintf(stderr, "bpf-floor: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bool uprobe = !strcmp(kind, "uprobe");

	prog = !strcmp(kind, "tp_btf")	 ? skel->progs.floor_sys_exit
	       : !strcmp(kind, "fentry") ? skel->progs.floor_fentry
	       : !strcmp(kind, "kprobe") ? skel->progs.floor_kprobe
	       : uprobe && argc > 3	 ? skel->progs.floor_uprobe
					 : NULL;
	if (!prog) {
		fprintf(stderr, "usage: bpf-floor [tp_btf|fentry|kprobe] | bpf-floor uprobe FILE OFFSET...\n");
		floor_bpf__destroy(skel);
		return 2;
	}
	bpf_program__set_autoload(prog, true);
	if (uprobe) {
		if (floor_bpf__load(skel)) {
			fprintf(stderr, "bpf-floor: cannot load the empty uprobe program: %s\n", strerror(errno));
			floor_bpf__destroy(skel);
			return 1;
		}
		for (int i = 3; i < argc; i++) {
			size_t off = strtoul(argv[i], NULL, 0);

			if (!bpf_program__attach_uprobe(prog, false, -1, argv[2], off) ||
			    !bpf_program__attach_uprobe(prog, true, -1, argv[2], off)) {
				fprintf(stderr, "bpf-floor: cannot attach at %s+%#zx: %s\n", argv[2], off, strerror(errno));
				floor_bpf__destroy(skel);
				return 1;
			}
		}
	} else if (floor_bpf__load(skel) || floor_bpf__attach(skel)) {
		fprintf(stderr, "bpf-floor: cannot load or attach the empty %s program: %s\n", kind, strerror(errno));
		floor_bpf__destroy(skel);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	floor_bpf__destroy(skel);
	return 0;
}
