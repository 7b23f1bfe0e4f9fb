// SPDX-License-Identifier: Apache-2.0
/*
 * bpf-floor: attaches floor.bpf.c's empty sys_exit program, prints "ready", and keeps it attached
 * until SIGTERM or SIGINT. Usage: bpf-floor   (root)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
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

int main(void)
{
	struct floor_bpf *skel = floor_bpf__open_and_load();

	if (!skel) {
		fprintf(stderr, "bpf-floor: cannot load the empty sys_exit program: %s\n", strerror(errno));
		return 1;
	}
	if (floor_bpf__attach(skel)) {
		fprintf(stderr, "bpf-floor: cannot attach to sys_exit: %s\n", strerror(errno));
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
