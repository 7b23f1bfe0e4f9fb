/* SPDX-License-Identifier: Apache-2.0
 *
 * The few kernel types the BPF programs read, declared by hand for CO-RE: libbpf relocates every
 * field access against the running kernel's BTF, so only the names must match the kernel, never
 * the layout. A generated vmlinux.h would pin one kernel's 100k-line type dump into the repository.
 */
#ifndef NETOBSERVER_CORE_H
#define NETOBSERVER_CORE_H

#define CORE __attribute__((preserve_access_index))

struct inode {
	unsigned short i_mode;
} CORE;

struct file {
	struct inode *f_inode;
	void *private_data;
} CORE;

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} CORE;

struct files_struct {
	struct fdtable *fdt;
	struct file *fd_array[1]; /* NR_OPEN_DEFAULT long; only its offset is used */
} CORE;

/* x86-64: status & TS_COMPAT marks a 32-bit syscall, whose numbers differ from the 64-bit ones. */
struct thread_info {
	unsigned int status;
} CORE;

/* Process identity (the sched_process_* programs). */
struct kernfs_node {
	struct kernfs_node *parent;
	const char *name;
	unsigned long long id;
} CORE;

/* 6.15 renamed kernfs_node.parent (now RCU-protected). */
struct kernfs_node___rcu {
	struct kernfs_node *__parent;
} CORE;

struct cgroup {
	struct kernfs_node *kn;
} CORE;

struct cgroup_subsys_state {
	struct cgroup *cgroup;
} CORE;

enum cgroup_subsys_id {
	memory_cgrp_id = 4, /* the value is relocated against the running kernel */
};

struct css_set {
	struct cgroup_subsys_state *subsys[12];
	struct cgroup *dfl_cgrp;
} CORE;

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} CORE;

struct signal_struct {
	struct {
		int counter;
	} live;
} CORE;

struct task_struct {
	struct thread_info thread_info;
	struct files_struct *files;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
	unsigned long long start_boottime;
	struct mm_struct *mm;
	struct signal_struct *signal;
	struct css_set *cgroups;
} CORE;

/* Before 5.5 the boot-based start time was real_start_time. */
struct task_struct___old {
	unsigned long long real_start_time;
} CORE;

struct in6_addr {
	union {
		unsigned char u6_addr8[16];
	} in6_u;
} CORE;

struct sock_common {
	unsigned int skc_daddr;
	unsigned short skc_dport;
	unsigned short skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
} CORE;

struct sock {
	struct sock_common __sk_common;
} CORE;

struct socket {
	short type;
	struct sock *sk;
} CORE;

/* The x86-64 register frame a uprobe program receives; a user-space ABI, so no relocation. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* The kernel's register frame, as the raw syscall tracepoints (sys_enter, sys_exit) pass it: a flavor
 * (the ___k suffix) of pt_regs relocated through CO-RE, so its accesses pass the tp_btf verifier's
 * BTF checks and the raw_tp probe reads follow the running kernel. */
struct pt_regs___k {
	unsigned long r10, r9, r8, dx, si, di, orig_ax;
} CORE;

/* Layout of every syscalls:sys_enter_* / sys_exit_* record: 8 bytes of common fields, the syscall
 * number, then the arguments (or the return value) as 8-byte slots. Stable since the tracepoints
 * exist. */
struct sys_enter_ctx {
	unsigned long long common;
	int nr;
	int pad;
	unsigned long args[6];
};

struct sys_exit_ctx {
	unsigned long long common;
	int nr;
	int pad;
	long ret;
};

/* User-space ABI structures read from syscall arguments. */
struct user_iovec {
	unsigned long base;
	unsigned long len;
};

struct user_msghdr {
	unsigned long name;
	int namelen;
	int pad;
	unsigned long iov;
	unsigned long iovlen;
	unsigned long control;
	unsigned long controllen;
	unsigned int flags;
};

struct user_mmsghdr {
	struct user_msghdr hdr;
	unsigned int len;
};

#endif
