/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opens the BPF object for the loader and insncheck: the main build, or, when a BTF file stands in for
 * the kernel's own (kernels without /sys/kernel/btf/vmlinux), the build without the kfunc extern
 * (netobserver.bpf.c says why). Both builds have the same maps and programs by name, so the second is
 * opened through the main skeleton with only its ELF bytes swapped in.
 */
#ifndef NETOBSERVER_SKEL_OPEN_H
#define NETOBSERVER_SKEL_OPEN_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "netobserver.skel.h"
/* Only the ELF bytes of this one are used. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "netobserver-btffile.skel.h"
#pragma GCC diagnostic pop

static inline struct netobserver_bpf *netobserver_open(const struct bpf_object_open_opts *opts, bool btf_file)
{
	struct netobserver_bpf *skel;
	int err;

	if (!btf_file)
		return netobserver_bpf__open_opts(opts);
	skel = calloc(1, sizeof(*skel));
	if (!skel) {
		errno = ENOMEM;
		return NULL;
	}
	err = netobserver_bpf__create_skeleton(skel);
	if (!err) {
		skel->skeleton->data = netobserver_btffile_bpf__elf_bytes(&skel->skeleton->data_sz);
		err = bpf_object__open_skeleton(skel->skeleton, opts);
	}
	if (err) {
		netobserver_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

#endif
