// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of syscall-exit capture: one tp_btf/sys_exit program that does nothing. Whatever it
 * costs (the raw tracepoint dispatch, the syscall slow path it switches on for every task) any
 * capture hooked there pays before its first instruction; bench-libebpf.sh measures it as a third
 * arm beside "off" and "on".
 *
 * The two optional programs are the same floor for a capture hooked on the socket layer instead
 * (`make kernel-matrix` compares them on kernels with kprobes): an empty fentry and an empty kprobe
 * on tcp_sendmsg, which only TCP sends pay. Not loaded unless bpf-floor asks for them.
 *
 * The uprobe one is the floor of the TLS probes (scripts/bench-tls.sh): entry and return probes
 * that do nothing, at the functions the TLS probes use, cost the traps alone.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("?tp_btf/sys_exit")
int floor_sys_exit(void *ctx __attribute__((unused)))
{
	return 0;
}

SEC("?fentry/tcp_sendmsg")
int floor_fentry(void *ctx __attribute__((unused)))
{
	return 0;
}

SEC("?kprobe/tcp_sendmsg")
int floor_kprobe(void *ctx __attribute__((unused)))
{
	return 0;
}

SEC("?uprobe")
int floor_uprobe(void *ctx __attribute__((unused)))
{
	return 0;
}
