// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side of netobserver's libebpf.so: syscall tracepoints and four uprobes, nothing else, so it
 * runs on kernels without kprobes or fentry. The syscall hooks come in three sets and the loader loads
 * one: the BTF raw tracepoint tp_btf/sys_exit (5.5+), the raw tracepoint raw_tp/sys_exit (4.17+), or
 * the per-syscall tracepoints syscalls:sys_enter_X / sys_exit_X. The raw ones are one exit program
 * that dispatches on the syscall number and returns at once for any other syscall (no entry
 * program: see hook_exit); the per-syscall ones make the kernel build a perf trace record before
 * every program run, which cost more than the programs themselves. Kept within what a 4.19 kernel
 * accepts: no loops the verifier must bound (every loop is unrolled with a small constant trip
 * count, long walks continue through tail calls; the one exception, the HTTP header scan, belongs
 * to the tp_btf set, which needs 5.8), no global variables, no bpf-to-bpf calls (they
 * cannot be mixed with tail calls before 5.10; the one callback, of the header scan's bpf_loop
 * build, is loaded only on 5.17+), helpers of 4.19 or ones libbpf rewrites for it
 * (probe_read_user/kernel).
 */
#define __bpf__ 1
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
typedef _Bool bool;
#define true 1
#define false 0

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "libebpf.h"
#include "core.h"
#include "shared.h"

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

#include "detect.h"
#include "latency_bounds.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define SOCK_DGRAM 2
#define EINPROGRESS 115

#define STATS_BYTES_STEP (128 * 1024)
#define STATS_PKTS_STEP 128
#define MAX_BUF_EVENTS 4
#define MAX_SEG_EVENTS 44
#define SEGS_PER_STEP 4
#define MSGS_PER_STEP 64
#define IDS_PER_CLEANUP 64 /* NETOBSERVER_CLEANUP_BATCH, kept literal for #pragma unroll */

char LICENSE[] SEC("license") = "GPL";


/* Syscall arguments (the per-syscall tracepoint set: its exit records carry none) saved at entry
 * for the exit tracepoint, in the slot of the thread id modulo
 * ARGS_SLOTS: an array slot costs a few loads where a hash update plus delete per syscall cost the
 * bulk of the per-syscall budget. The tid stored in the slot detects the rare collision of two
 * threads (tids ARGS_SLOTS apart) inside traced syscalls at once; the loser's syscall is skipped. */
#define ARGS_SLOTS 131072
struct args {
	u64 p1; /* buf, iovec array, msghdr, mmsghdr array or sockaddr */
	u64 p2; /* sendto/recvfrom address */
	u64 p3; /* sendto address length, or recvfrom's pointer to it */
	s32 fd;
	u32 func;
	u32 tid; /* owner of the slot, 0 = free */
	s32 nr;  /* syscall number: an exit only takes the arguments of its own entry */
};

/* Kernel-side state that user space never overwrites. */
struct state {
	s64 ndisabled; /* entries in disabled_map: while 0, no lookup */
};

enum work_kind {
	K_NONE, /* bytes count for stats only (sendfile) */
	K_BUF,
	K_IOV,
	K_MMSG,
};

/* State handed from an exit tracepoint to the tail-called programs (same CPU, same invocation). */
struct work {
	u64 key;
	u64 total;     /* bytes moved by the syscall, all messages together */
	u64 first;     /* first segment: the segment walk starts with it */
	u64 first_len;
	u64 head;      /* first non-empty segment of the first two: protocol detection */
	u64 head_len;
	struct user_iovec second; /* an iovec call's second segment, if has_second */
	u64 vec;       /* iovec array (K_IOV) or mmsghdr array (K_MMSG) */
	u64 iov;       /* iovec array of the message being walked */
	u64 remaining; /* bytes of the current message not yet attributed to a segment */
	u32 vec_cnt;   /* iovec count (K_IOV) or message count (K_MMSG) */
	u32 idx;       /* next message of the K_MMSG byte count pass */
	u32 iov_cnt;
	u32 iov_idx;
	u32 msg_idx;
	u32 events;
	u32 gathered;  /* bytes of segments gathered in ev.msg, not yet emitted */
	u32 func;
	u32 dir;
	u32 kind;
	u32 has_addr;
	u32 has_second;
	union sockaddr_t addr; /* address carried by the call */
	union sockaddr_t conn_addr;
	u64 start;     /* stream position of the syscall's first byte */
	/* The part of a segment larger than a chunk not walked yet (iovec walk): it goes out as
	 * chunks of its own, CONN_DATA_MAX_SIZE bytes at a time. */
	u64 rest_base;
	u64 rest_len;
	u64 chunk_pos; /* stream position of the next chunk's first byte (iovec walk) */
	/* [cut_from, cut_to): stream positions known to be an HTTP body or a memcached data block
	 * (empty: none); see keep() */
	u64 cut_from;
	u64 cut_to;
	u64 copied;    /* bytes of the first buffer already in ev.msg (by the HTTP header scan) */
	/* What the HTTP header scan found, kept in memory for the verifier's sake (http_head_body). */
	u64 scan_hend;
	u64 scan_clpos;
	u32 scan_ncl;
	u32 scan_te;
	/* What the memcached line scan found (memc_head_body), in memory for the same reason. */
	u64 scan_lend;
	u64 scan_tokpos;
	u32 scan_tokens;
	u32 scan_want;
	/* Kernel aggregation (http_agg_body): data_main's verdict on the header scan, for a fallback
	 * that goes on as today; what the request scan found besides the header end and
	 * Content-Length. */
	u32 agg_scan;
	u32 scan_nhost;
	u64 scan_rlend;   /* just past the request line's newline */
	u64 scan_hostpos; /* just past "Host:" */
	u32 scan_refuse;  /* an Upgrade or Expect header */
	u32 scan_response; /* a response's head: only its end and its length are looked for */
	/* The syscall filled the buffers it was offered (or their size is not known: more than two
	 * iovecs, recvmmsg, the hook sets without aggregation): its stream may have more bytes
	 * already there. A short read took all there was. */
	u32 filled;
	u32 agg_pad;
	/* The Redis request walk (redis_walk_arg), in memory for the verifier's sake too: values it
	 * tracked exactly on the stack would differ at every iteration of the loop, which it then
	 * never finds converged. */
	struct redis_walk {
		u64 n;    /* head bytes read */
		u64 off;  /* where the next bulk string's header starts */
		u64 left; /* bulk strings still to walk */
		u64 name, name_len, sub, sub_len; /* the first two's offsets and lengths */
		u32 verdict; /* AGG_OK, or the fallback reason */
		/* The reply walk (redis_walk_reply): off is inside a line type's line past its first
		 * REDIS_LINE_STEP bytes; the type byte of the element at hand. */
		u8 in_line;
		u8 type;
		u16 pad;
	} redis;
};

/* What a TLS return probe hands to the plaintext program it tail-calls (same CPU, same
 * invocation): see the TLS section. */
struct tls_req {
	u64 buf;
	u64 len;
	u64 ts; /* the events' time, 0 for now */
	u32 tgid;
	s32 fd;
	u32 dir;
	u32 pad;
};

struct scratch {
	struct conn_data_event_t ev;
	/* Room past ev.msg: a segment gathered at any offset below CONN_DATA_MAX_SIZE stays inside
	 * the map value as far as the verifier can tell (the code never writes past ev.msg). */
	u8 spill[CONN_DATA_MAX_SIZE];
	struct work w;
	struct tls_req tls;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NETOBSERVER_MAX_CONNS);
	__type(key, u64);
	__type(value, struct conn);
} conn_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ARGS_SLOTS);
	__type(key, u32);
	__type(value, struct args);
} args_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct state);
} state_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct netobserver_config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, u8);
} disabled_map SEC(".maps");

/* One scratch area per CPU. A plain array indexed by CPU (sized by the loader), not a per-CPU
 * array: a per-CPU value is limited to 32 KiB, and the area holds an event and its spill room. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* x possible CPUs, set by the loader */
	__type(key, u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* One tail-call table per hook set: a program array only takes programs of the type (and, for
 * tp_btf, the attach point) of its first user. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NETOBSERVER_NUM_TAILS);
	__type(key, u32);
	__type(value, u32);
} tails SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NETOBSERVER_NUM_TAILS);
	__type(key, u32);
	__type(value, u32);
} tails_raw SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NETOBSERVER_NUM_TAILS);
	__type(key, u32);
	__type(value, u32);
} tails_btf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} ctrl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} data_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} stats_events SEC(".maps");

/* The BPF ring buffer transport (tp_btf hook set, 5.8+): one ring per event kind and CPU, at index
 * cpu * NETOBSERVER_NUM_RINGS + kind. A ring shared by all CPUs costs a contended spinlock and a
 * bouncing cache line per event (measured: the top BPF item of an nginx profile); the consumer merges
 * the CPUs' rings by timestamp instead. The rings live in an array of maps (sized by the loader) so
 * the loader can replace them with rings of another size at ebpf_start (PERF_BUFFER_PAGE); the
 * template's size is never used. */
struct ring_template {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, NETOBSERVER_NUM_RINGS); /* x possible CPUs, set by the loader */
	__type(key, u32);
	__array(values, struct ring_template);
} rings SEC(".maps");

/* Events a full ring (or a CPU without one) refused, per kind (callback_type_e); memory-mapped by
 * the loader, which reports the growth through the lost callback. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NETOBSERVER_NUM_RINGS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, u32);
	__type(value, u64);
} ring_lost SEC(".maps");

/* ---- TLS probes' state (see the TLS section) ---- */

/* An SSL call in progress, per thread: the entry probe's arguments for the return probe, in the
 * slot of the thread id modulo TLS_CALL_SLOTS (a plain array: a hash update and delete per call
 * would cost more than the rest of the entry). tid tags the slot; two threads TLS_CALL_SLOTS
 * apart inside SSL calls at once lose the first one's plaintext, counted (TLS_UNATTRIBUTED). A
 * socket syscall the thread makes inside the call fills fd (begin_work). */
#define TLS_CALL_SLOTS 32768
struct tls_call {
	u64 ssl;    /* the library's connection object (SSL*) */
	u64 buf;
	u64 outlen; /* SSL_read_ex/SSL_write_ex: where the byte count goes */
	u32 tid;    /* owner, 0 = free */
	s32 fd;     /* the socket a nested syscall used, -1 = none yet */
	u32 lib;    /* TLS_LIB_* of the entry probe: how to find the fd without a nested syscall */
	u32 pad;
};

#define TLS_LIB_OPENSSL3 1
#define TLS_LIB_OPENSSL11 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TLS_CALL_SLOTS);
	__type(key, u32);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* (tgid, SSL*) -> the fd a nested syscall revealed: calls served from the library's buffer make
 * no syscall. LRU: the library never says when an SSL object is freed. */
struct tls_obj {
	u64 tgid;
	u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_obj);
	__type(value, s32);
} tls_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TLS_NUM_COUNTERS);
	__type(key, u32);
	__type(value, u64);
} tls_counters SEC(".maps");

/* ---- kernel aggregation (http_agg_body; bpf/README.md, "Kernel aggregation") ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETOBSERVER_AGG_CONNS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, u64);
	__type(value, struct agg_conn);
} agg_conns SEC(".maps");

/* A zeroed agg_conn that new entries are copied from (never written: too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct agg_conn);
} agg_fresh SEC(".maps");

/* Cumulative, added to atomically. Not per CPU: an entry holds a latency histogram (1.5 KiB), and
 * per CPU that would be as many times larger as the host has CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETOBSERVER_AGG_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct agg_entry_key);
	__type(value, struct agg_entry);
} agg_entries SEC(".maps");

/* The call key's number within its connection (agg_entry_key's slot). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETOBSERVER_AGG_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct netobserver_agg_key);
	__type(value, u32);
} agg_index SEC(".maps");

/* A zeroed entry that new ones are copied from (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct agg_entry);
} agg_fresh_entry SEC(".maps");

/* The observer's latency bucket bounds (bpf/latency_bounds.h, filled by libebpf at load). */
struct agg_latency_bounds {
	u64 bound[NETOBSERVER_LATENCY_BUCKETS];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct agg_latency_bounds);
} agg_latency_bounds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETOBSERVER_AGG_NUM_COUNTERS);
	__type(key, u32);
	__type(value, u64);
} agg_counters SEC(".maps");

static __always_inline void agg_add(u32 which, u64 delta)
{
	u64 *n = bpf_map_lookup_elem(&agg_counters, &which);

	if (n)
		*n += delta;
}

static __always_inline void agg_count(u32 which)
{
	agg_add(which, 1);
}

/* The aggregation state of the connection of key ends (its close, or user space forgetting it);
 * returns the protocol of the request pending, one the connection never answered (0: none). */
static __always_inline u32 agg_conn_end(u64 key)
{
	struct agg_conn *a = bpf_map_lookup_elem(&agg_conns, &key);
	u32 pending = a && a->state == AGG_PENDING ? a->key.protocol : 0;

	bpf_map_delete_elem(&agg_conns, &key);
	return pending;
}

/* The TLS probes' tail calls (kprobe-type programs cannot join the syscall sets' tables). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, TAIL_TLS_NUM);
	__type(key, u32);
	__type(value, u32);
} tails_tls SEC(".maps");

/* Hands an event to user space: through the ring buffer (rb) or the per-CPU perf buffer. A ring
 * copy wakes the consumer only once the ring is a quarter full (its fill watermark): the consumer
 * polls on a timer sized by the traffic, and sleeps in epoll on the rings only so that a burst its
 * timer did not foresee (or a consumer starved of CPU) is drained before the ring overflows. Below
 * the watermark no wakeup is queued, so a lightly loaded host wakes only on the timer. (The perf
 * buffers get the same from their wakeup_watermark, set by the loader.) */
static __always_inline void output(void *ctx, u32 which, void *perf_map, void *data, u64 size, bool rb)
{
	if (rb) {
		u32 key = bpf_get_smp_processor_id() * NETOBSERVER_NUM_RINGS + which, zero = 0;
		void *ring = bpf_map_lookup_elem(&rings, &key);
		struct netobserver_config *cfg = bpf_map_lookup_elem(&config_map, &zero);
		u64 wake = BPF_RB_NO_WAKEUP;

		if (ring && cfg && bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > cfg->ring_wake[which & (NETOBSERVER_NUM_RINGS - 1)])
			wake = BPF_RB_FORCE_WAKEUP;
		if (!ring || bpf_ringbuf_output(ring, data, size, wake)) {
			u64 *lost = bpf_map_lookup_elem(&ring_lost, &which);
			if (lost)
				__sync_fetch_and_add(lost, 1);
		}
		return;
	}
	bpf_perf_event_output(ctx, perf_map, BPF_F_CURRENT_CPU, data, size);
}

static __always_inline struct netobserver_config *config(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&config_map, &zero);
}

static __always_inline struct scratch *scratch(void)
{
	u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch_map, &cpu);
}

/* Opaque to the compiler so the verifier, not LLVM, sees the mask: the result is in [1, 16384]
 * for an input in [1, 16384], which is what a 4.19 verifier needs for a variable read size. */
static __always_inline u64 bound_payload(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0x3fff\n\t%0 += 1" : "+r"(n));
	return n;
}

static __always_inline u64 conn_key(u32 tgid, s32 fd)
{
	return ((u64)tgid << 32) | (u32)fd;
}

/* Self and TGID_FILTER: decided before anything else, they cost one array lookup. */
static __always_inline bool tgid_wanted(u32 tgid)
{
	struct netobserver_config *cfg = config();
	if (!cfg)
		return false;
	if (cfg->self_pid > 0 && (u32)cfg->self_pid == tgid)
		return false;
	if (cfg->tgid_filter > 0 && (u32)cfg->tgid_filter != tgid)
		return false;
	return true;
}

static __always_inline struct state *state(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&state_map, &zero);
}

static __always_inline bool tgid_disabled(u32 tgid)
{
	struct state *st = state();

	if (!st || !st->ndisabled)
		return false;
	return bpf_map_lookup_elem(&disabled_map, &tgid) != NULL;
}

static __always_inline struct file *fd_file(s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || !fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* A socket is an inode with S_IFSOCK; the test runs at the entry of every read and write, so it
 * comes in two builds. The portable one chases task->files->fdt->fd[fd]->f_inode->i_mode with six
 * probe reads. The fast one (5.11+ helper, 6.2+ kfunc; part of the tp_btf hook set, chosen by the
 * loader) walks the same chain with direct BTF loads and needs a single probe read, for the fd array
 * slot.
 * libbpf resolves a kfunc extern against the running kernel's own BTF even when only a program it does
 * not load calls it, and fails on kernels without BTF; so the object is also built with
 * NETOBSERVER_NO_KFUNC (the loader opens that build when a BTF file stands in for the kernel's), in
 * which btf_sys_exit is the portable test again. */
#ifndef NETOBSERVER_NO_KFUNC
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define FAST_SOCKET_TEST true
#else
#define FAST_SOCKET_TEST false
#endif

static __always_inline bool fd_is_socket(s32 fd, bool btf)
{
	struct file *f = NULL;

#ifndef NETOBSERVER_NO_KFUNC
	if (btf) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct fdtable *fdt = task->files->fdt;
		struct files_struct *at_slot;
		u64 slot;

		if (fd < 0 || (u32)fd >= fdt->max_fds)
			return false;
		/* The slot fd[fd] read with a direct load instead of a probe-read helper call: cast so
		 * that a files_struct's fd_array[0] falls on it (the verifier has no typed view of an
		 * element of a pointer array with a variable index). */
		slot = (u64)fdt->fd + (u64)fd * sizeof(f) - bpf_core_field_offset(struct files_struct, fd_array);
		at_slot = bpf_rdonly_cast((void *)slot, bpf_core_type_id_kernel(struct files_struct));
		f = at_slot->fd_array[0];
		if (!f)
			return false;
		return (f->f_inode->i_mode & S_IFMT) == S_IFSOCK;
	}
#else
	(void)btf;
#endif
	f = fd_file(fd);
	if (!f)
		return false;
	return (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFSOCK;
}

/* A 32-bit (ia32) syscall: the raw tracepoints see those too, with other syscall numbers (ia32 read
 * is 3, our close); the per-syscall tracepoints never fire for them. */
#define TS_COMPAT 0x0002

static __always_inline bool compat_syscall(bool btf)
{
	struct task_struct *task;

	if (btf)
		return bpf_get_current_task_btf()->thread_info.status & TS_COMPAT;
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
}

/* Fills the peer address from the kernel socket behind fd; returns the family, 0 if not a socket
 * we track. AF_UNKNOWN marks a socket without a peer (unconnected UDP). */
static __always_inline u16 fd_peer(s32 fd, union sockaddr_t *a, u8 *sock_type, u64 *file)
{
	struct file *f = fd_file(fd);
	struct socket *so;
	struct sock *sk;
	u16 family;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	so = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return 0;
	*sock_type = (u8)BPF_CORE_READ(so, type);
	*file = (u64)f;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__builtin_memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->in4.addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		a->in4.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
		if (!a->in4.addr && !a->in4.port) {
			a->sa.family = AF_UNKNOWN;
			return AF_UNKNOWN;
		}
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&a->in6.addr, sk, __sk_common.skc_v6_daddr);
		a->in6.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
		if (!a->in6.port) {
			a->sa.family = AF_UNKNOWN;
			return AF_UNKNOWN;
		}
	} else if (family != AF_UNIX) {
		return 0;
	}
	a->sa.family = family;
	return family;
}

/* Reads a user sockaddr into the ABI union (same layout as sockaddr_in/in6) and keeps only what
 * the family defines; returns true for an IPv4/IPv6 address. */
static __always_inline bool read_user_addr(union sockaddr_t *a, u64 uaddr)
{
	if (!uaddr)
		return false;
	if (bpf_probe_read_user(a, sizeof(*a), (void *)uaddr)) {
		__builtin_memset(a, 0, sizeof(*a));
		if (bpf_probe_read_user(a, 16, (void *)uaddr))
			return false;
	}
	if (a->sa.family == AF_INET) {
		__builtin_memset(&a->in6.addr[4], 0, 16); /* bytes 12..27: not part of sockaddr_in */
		return true;
	}
	if (a->sa.family == AF_INET6)
		return true;
	return false;
}

static __always_inline void emit_connect(void *ctx, struct conn *c, bool rb)
{
	struct conn_ctrl_event_t e;

	__builtin_memset(&e, 0, sizeof(e));
	e.type = EventConnect;
	e.ts = bpf_ktime_get_ns();
	e.conn_id = c->id;
	e.connect.addr = c->addr;
	e.connect.role = c->role;
	output(ctx, CTRL_HAND, &ctrl_events, &e, sizeof(e), rb);
}

static __always_inline void emit_stats(void *ctx, struct conn *c, u32 final, bool rb)
{
	struct conn_stats_event_t e;

	__builtin_memset(&e, 0, sizeof(e));
	e.ts = bpf_ktime_get_ns();
	e.conn_id = c->id;
	e.addr = c->addr;
	e.role = c->role;
	e.wr_bytes = c->wr_bytes;
	e.rd_bytes = c->rd_bytes;
	e.wr_pkts = c->wr_pkts;
	e.rd_pkts = c->rd_pkts;
	e.last_output_wr_bytes = c->last_wr_bytes;
	e.last_output_rd_bytes = c->last_rd_bytes;
	e.last_output_wr_pkts = c->last_wr_pkts;
	e.last_output_rd_pkts = c->last_rd_pkts;
	e.conn_events = final;
	output(ctx, STAT_HAND, &stats_events, &e, sizeof(e), rb);
	c->last_wr_bytes = c->wr_bytes;
	c->last_rd_bytes = c->rd_bytes;
	c->last_wr_pkts = c->wr_pkts;
	c->last_rd_pkts = c->rd_pkts;
}

/* EventClose with the totals (sampled connections only) and the final stats, then forget it. */
static __always_inline void close_conn(void *ctx, u64 key, struct conn *c, bool quiet, bool rb)
{
	if (!quiet) {
		if (c->sampled) {
			struct conn_ctrl_event_t e;

			__builtin_memset(&e, 0, sizeof(e));
			e.type = EventClose;
			e.ts = bpf_ktime_get_ns();
			e.conn_id = c->id;
			e.close.wr_bytes = c->wr_bytes;
			e.close.rd_bytes = c->rd_bytes;
			output(ctx, CTRL_HAND, &ctrl_events, &e, sizeof(e), rb);
		}
		emit_stats(ctx, c, 1, rb);
	}
	/* The state machine's entry goes with the connection (its aggregates stay for the reader). */
	if (rb && c->agg == AGG_CONN_ON) {
		u32 pending = agg_conn_end(key);

		if (pending)
			agg_count(pending == ProtoRedis ? NETOBSERVER_AGG_UNANSWERED_REDIS : NETOBSERVER_AGG_UNANSWERED);
	}
	bpf_map_delete_elem(&conn_map, &key);
}

/* Starts tracking; a fresh start time gives a reused fd a new identity. */
static __always_inline struct conn *track(void *ctx, u64 key, const union sockaddr_t *addr, u32 role,
					  u8 sock_type, u64 file, bool announce, bool rb)
{
	struct netobserver_config *cfg = config();
	struct conn c;
	u64 now = bpf_ktime_get_ns();

	if (!cfg)
		return NULL;
	__builtin_memset(&c, 0, sizeof(c));
	c.id.fd = (s32)key;
	c.id.tgid = key >> 32;
	c.id.start = now;
	c.addr = *addr;
	c.role = role;
	c.sock_type = sock_type;
	c.file = file;
	c.sampled = (now % 100) < (u64)cfg->sampling;
	if (bpf_map_update_elem(&conn_map, &key, &c, BPF_ANY))
		return NULL;
	if (announce && c.sampled)
		emit_connect(ctx, &c, rb);
	return bpf_map_lookup_elem(&conn_map, &key);
}

static __always_inline struct args *args_slot(u32 tid)
{
	u32 slot = tid & (ARGS_SLOTS - 1);
	return bpf_map_lookup_elem(&args_map, &slot);
}

static __always_inline void save_args(s32 nr, s32 fd, u32 func, u64 p1, u64 p2, u64 p3)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct args *a = args_slot(tid);

	if (!a)
		return;
	a->nr = nr;
	a->p1 = p1;
	a->p2 = p2;
	a->p3 = p3;
	a->fd = fd;
	a->func = func;
	a->tid = tid;
}

/* Entry of every data syscall (the tracepoint set): the socket test, then the filters; true if the
 * syscall is to be followed (the caller saves its arguments). */
static __always_inline bool data_wanted(s32 fd)
{
	u64 id = bpf_get_current_pid_tgid();

	if (!fd_is_socket(fd, false) || !tgid_wanted(id >> 32) || tgid_disabled(id >> 32)) {
		/* Arguments left by an entry whose exit never ran must not be taken by this exit. */
		struct args *a = args_slot((u32)id);
		if (a && a->tid == (u32)id)
			a->tid = 0;
		return false;
	}
	return true;
}

/* Per-syscall tracepoint entry of a data syscall (the fallback hook set: portable socket test). */
#define ENTER_DATA(tp, ...)                                               \
	SEC("tracepoint/syscalls/sys_enter_" #tp)                         \
	int enter_##tp(struct sys_enter_ctx *ctx)                         \
	{                                                                 \
		if (data_wanted(ctx->args[0]))                            \
			save_args(ctx->nr, ctx->args[0], __VA_ARGS__);    \
		return 0;                                                 \
	}

/* recv flag: the bytes are looked at and left in the socket, to be read again. */
#define MSG_PEEK 2

/* ENTER_DATA for a receive whose flags are argument f: a peek (MSG_PEEK) is not followed, its
 * bytes are read again. */
#define ENTER_RECV(tp, f, ...)                                                            \
	SEC("tracepoint/syscalls/sys_enter_" #tp)                                         \
	int enter_##tp(struct sys_enter_ctx *ctx)                                         \
	{                                                                                 \
		if (!(ctx->args[f] & MSG_PEEK) && data_wanted(ctx->args[0]))              \
			save_args(ctx->nr, ctx->args[0], __VA_ARGS__);                    \
		return 0;                                                                 \
	}

/* Takes the saved arguments of this thread's syscall nr; false if it was not one we follow. */
static __always_inline bool take_args(s32 nr, struct args *out)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct args *a = args_slot(tid);

	if (!a || a->tid != tid || a->nr != nr)
		return false;
	*out = *a;
	a->tid = 0;
	return true;
}

/* A socket syscall inside an SSL call of this thread names the call's socket (one array load for
 * any other syscall). Only while an OpenSSL entry probe is attached (cfg->tls_calls, set by the
 * loader): without TLS probes the slot is never filled, and the lookup would touch a cache line of
 * a 1 MiB array on every followed syscall for nothing. */
static __always_inline void tls_nested(s32 fd)
{
	struct netobserver_config *cfg = config();
	u32 tid, slot;
	struct tls_call *t;

	if (!cfg || !cfg->tls_calls)
		return;
	tid = (u32)bpf_get_current_pid_tgid();
	slot = tid & (TLS_CALL_SLOTS - 1);
	t = bpf_map_lookup_elem(&tls_calls, &slot);
	if (t && t->tid == tid && t->fd < 0)
		t->fd = fd;
}

static __always_inline struct work *begin_work(struct args *a, u32 kind, u32 dir, u64 total)
{
	struct scratch *s = scratch();
	struct work *w;

	if (!s)
		return NULL;
	w = &s->w;
	w->key = conn_key(bpf_get_current_pid_tgid() >> 32, a->fd);
	w->kind = kind;
	w->dir = dir;
	w->func = a->func;
	w->total = total;
	w->first = 0;
	w->first_len = 0;
	w->head = 0;
	w->head_len = 0;
	w->events = 0;
	w->gathered = 0;
	w->has_addr = 0;
	w->has_second = 0;
	tls_nested(a->fd);
	return w;
}

/* ---- protocol detection (detect.h) ----------------------------------------------------------- */

/* A connection whose protocol was told from a plaintext start is checked for a TLS handshake
 * (STARTTLS-style protocols: MySQL) only within this many bytes of its start. */
#define TLS_HELLO_WINDOW 4096

/* The socket now carries TLS. A protocol told from a plaintext start (STARTTLS) goes on from the
 * socket bytes before the hello (egress: this syscall's total is the hello), so its stream stays
 * gapless; any other starts its plaintext at 0: nothing of it was sent, and the socket counts may
 * hold bytes that were only peeked (nginx's 1-byte MSG_PEEK for its plain-HTTP-on-HTTPS check). */
static __always_inline void tls_start(struct conn *c, bool egress, u64 total)
{
	c->tls = 1;
	if (c->protocol == ProtoUnknown)
		return;
	c->tls_wr_pos = c->wr_bytes - (egress ? total : 0);
	c->tls_rd_pos = c->rd_bytes - (egress ? 0 : total);
}

/* ---- data path ------------------------------------------------------------------------------ */

/* Payload bytes a chunk covering stream positions [p, p + n) carries: all of them, unless the chunk
 * ends inside a known HTTP body [cut_from, cut_to); then only the bytes before the body. A chunk
 * can only lose its tail (the consumer places a payload as the prefix of its chunk), so one that
 * runs past the body's end keeps everything: the next message may start there. */
static __always_inline u64 keep(const struct work *w, u64 p, u64 n)
{
	if (p + n <= w->cut_from || p + n > w->cut_to)
		return n;
	return w->cut_from > p ? w->cut_from - p : 0;
}

/* A chunk of org bytes at ptr, of which the first kept are copied; later: not the syscall's first
 * event. */
static __always_inline void emit_chunk(void *ctx, struct scratch *s, u64 ptr, u64 org, u64 kept, bool later, bool rb)
{
	u64 size = sizeof(struct conn_data_event_attr_t);
	u64 cp;

	if (kept > CONN_DATA_MAX_SIZE)
		kept = CONN_DATA_MAX_SIZE;
	s->ev.attr.org_msg_size = org;
	s->ev.attr.msg_buf_size = 0;
	if (kept < org && later)
		/* Cut chunks of one syscall would otherwise be identical events (size, ts, no bytes),
		 * which the consumer takes for a duplicate delivery; the first keeps the syscall's. */
		s->ev.attr.ts = bpf_ktime_get_ns();
	if (kept) {
		cp = bound_payload(kept);
		/* Paged-out user memory: the event keeps pos and org_msg_size, so the gap shows. The
		 * header scan may have copied the bytes already. */
		if ((ptr == s->w.first && cp <= s->w.copied) || !bpf_probe_read_user(s->ev.msg, cp, (void *)ptr)) {
			s->ev.attr.msg_buf_size = cp;
			size += cp;
		}
	}
	s->w.copied = 0; /* ev.msg holds other bytes from here on */
	output(ctx, DATA_HAND, &data_events, &s->ev, size, rb);
}

/* Points the segment walk at message msg_idx of a sendmmsg/recvmmsg vector. */
static __always_inline bool load_message(struct work *w, struct scratch *s)
{
	struct user_mmsghdr m;

	if (bpf_probe_read_user(&m, sizeof(m), (void *)(w->vec + (u64)w->msg_idx * sizeof(m))))
		return false;
	w->iov = m.hdr.iov;
	w->iov_cnt = m.hdr.iovlen;
	w->iov_idx = 0;
	w->remaining = m.len;
	s->ev.attr.addr = w->conn_addr;
	if (m.hdr.name && m.hdr.namelen > 0) {
		union sockaddr_t a;
		if (read_user_addr(&a, m.hdr.name))
			s->ev.attr.addr = a;
	}
	return true;
}

/* Emits the segments gathered in ev.msg as one chunk. */
static __always_inline void flush_gathered(void *ctx, struct scratch *s, struct work *w, bool rb)
{
	u64 n = w->gathered;
	u64 kept, size = sizeof(struct conn_data_event_attr_t);

	if (!n)
		return;
	w->gathered = 0;
	kept = keep(w, w->chunk_pos, n);
	w->chunk_pos += n;
	if (w->events >= MAX_SEG_EVENTS)
		return;
	s->ev.attr.org_msg_size = n;
	s->ev.attr.msg_buf_size = 0;
	if (kept < n && w->events)
		s->ev.attr.ts = bpf_ktime_get_ns(); /* see emit_chunk */
	if (kept) {
		kept = bound_payload(kept);
		s->ev.attr.msg_buf_size = kept;
		size += kept;
	}
	output(ctx, DATA_HAND, &data_events, &s->ev, size, rb);
	w->events++;
}

/* One segment of an iovec message (or a chunk-sized piece of a larger one, emit_segments_body):
 * consecutive segments are gathered into one chunk of at most CONN_DATA_MAX_SIZE bytes (a writev
 * of headers and body is one event, not two); a segment that does not fit goes into the next
 * chunk, and one still larger than a chunk is a chunk alone, truncated, as a plain buffer's 4th
 * event is.
 *
 * The bytes of the known body or data block [cut_from, cut_to) are not read: a chunk that reaches
 * into the block ends at the block's end at the latest and keeps only what precedes the block
 * (keep()); unread bytes join it whatever their number. The bytes after the block start a chunk
 * of their own (memcached's VALUE line, its data and CRLF, and END go out as three segments: two
 * chunks, the line with the data's size, then CRLF END). */
static __always_inline void gather(void *ctx, struct scratch *s, struct work *w, u64 base, u64 seg, bool rb)
{
	u64 at = w->chunk_pos + w->gathered;
	u64 rd = seg;

	if (at >= w->cut_from && at < w->cut_to && at + seg > w->cut_to) {
		/* From inside the block past its end: the part inside is unread. */
		u64 k = w->cut_to - at;

		w->gathered += k;
		base += k;
		seg -= k;
		at += k;
	}
	if (at < w->cut_to && at + seg > w->cut_from && at + seg <= w->cut_to)
		rd = at >= w->cut_from ? 0 : w->cut_from - at;
	if (!rd) {
		w->gathered += seg;
		return;
	}
	if (w->gathered + seg > CONN_DATA_MAX_SIZE || (w->gathered && at > w->cut_from && at <= w->cut_to))
		flush_gathered(ctx, s, w, rb);
	if (seg <= CONN_DATA_MAX_SIZE &&
	    ((!w->gathered && base == w->first && seg <= w->copied) ||
	     !bpf_probe_read_user(s->ev.msg + (w->gathered & (CONN_DATA_MAX_SIZE - 1)), bound_payload(rd),
				  (void *)base))) {
		w->copied = 0; /* ev.msg holds other bytes from here on */
		w->gathered += seg;
		return;
	}
	/* Too large, or unreadable (paged out: the event keeps the gap visible in pos and size). */
	if (seg <= CONN_DATA_MAX_SIZE)
		w->copied = 0; /* the failed read zeroed what it was given */
	flush_gathered(ctx, s, w, rb);
	if (w->events < MAX_SEG_EVENTS) {
		emit_chunk(ctx, s, base, seg, keep(w, w->chunk_pos, seg), w->events > 0, rb);
		w->events++;
	}
	w->chunk_pos += seg;
}

/* The tail-called programs exist once per hook set (TAIL_PROGS below); tmap is that set's table. */
static __always_inline int emit_segments_body(void *ctx, void *tmap, bool rb)
{
	struct scratch *s = scratch();
	struct work *w;

	if (!s)
		return 0;
	w = &s->w;
#pragma unroll
	for (int k = 0; k < SEGS_PER_STEP; k++) {
		struct user_iovec v;
		u64 seg;

		if (w->events >= MAX_SEG_EVENTS)
			return 0;
		if (w->rest_len) {
			v.base = w->rest_base;
			seg = w->rest_len;
			w->rest_len = 0;
			goto piece;
		}
		if (w->iov_idx >= w->iov_cnt || w->remaining == 0) {
			flush_gathered(ctx, s, w, rb); /* messages of *mmsg stay apart: each has its address */
			w->msg_idx++;
			if (w->kind != K_MMSG || w->msg_idx >= w->vec_cnt || !load_message(w, s))
				return 0;
			continue;
		}
		if (!w->msg_idx && !w->iov_idx) {
			/* Read by the exit program (first_segments): data_main goes on only if it was. */
			v.base = w->first;
			v.len = w->first_len;
		} else if (!w->msg_idx && w->iov_idx == 1 && w->has_second) {
			v = w->second;
		} else if (bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + (u64)w->iov_idx * sizeof(v)))) {
			flush_gathered(ctx, s, w, rb);
			return 0;
		}
		w->iov_idx++;
		seg = v.len < w->remaining ? v.len : w->remaining;
		w->remaining -= seg;
piece:
		/* A segment larger than a chunk (nats-server writes its queued deliveries in one) goes out
		 * a chunk at a time, not as one truncated chunk: what a parser needs may be anywhere in
		 * it. Not where it meets a known body or data block, which gather() sends as a size, and
		 * only while the events left keep one for each segment still to come (the rest of the
		 * segment then goes as one truncated chunk, as before). */
		if (seg > CONN_DATA_MAX_SIZE && MAX_SEG_EVENTS - w->events > w->iov_cnt - w->iov_idx + 2) {
			u64 at = w->chunk_pos + w->gathered;

			if (at >= w->cut_to || at + seg <= w->cut_from) {
				w->rest_base = v.base + CONN_DATA_MAX_SIZE;
				w->rest_len = seg - CONN_DATA_MAX_SIZE;
				seg = CONN_DATA_MAX_SIZE;
			}
		}
		if (seg)
			gather(ctx, s, w, v.base, seg, rb);
	}
	bpf_tail_call(ctx, tmap, TAIL_EMIT_SEGMENTS);
	/* Out of tail calls (the kernel allows 33 per syscall): what was gathered still goes out. */
	flush_gathered(ctx, s, w, rb);
	return 0;
}

/* The data events of a syscall whose attributes are in s->ev.attr: a plain buffer's chunks, or the
 * walk over its segments. */
/* A plain buffer's chunks: min(⌈N/16384⌉, MAX_BUF_EVENTS), the last one truncated. */
static __always_inline void emit_buf(void *ctx, struct scratch *s, struct work *w, bool rb)
{
#pragma unroll
	for (int i = 0; i < MAX_BUF_EVENTS; i++) {
		u64 off = (u64)i * CONN_DATA_MAX_SIZE;
		u64 org;

		if (off >= w->total)
			break;
		org = w->total - off;
		if (i < MAX_BUF_EVENTS - 1 && org > CONN_DATA_MAX_SIZE)
			org = CONN_DATA_MAX_SIZE;
		emit_chunk(ctx, s, w->first + off, org, keep(w, w->start + off, org), i > 0, rb);
	}
}

static __always_inline void emit_data(void *ctx, struct scratch *s, struct work *w, void *tmap, bool rb)
{
	if (w->kind == K_BUF) {
		emit_buf(ctx, s, w, rb);
		return;
	}
	w->msg_idx = 0;
	w->rest_len = 0;
	w->chunk_pos = w->start;
	if (w->kind == K_MMSG) {
		if (!load_message(w, s))
			return;
	} else {
		/* One iovec array: walked as a vector of a single message. */
		w->iov = w->vec;
		w->iov_cnt = w->vec_cnt;
		w->iov_idx = 0;
		w->remaining = w->total;
		w->vec_cnt = 1;
	}
	bpf_tail_call(ctx, tmap, TAIL_EMIT_SEGMENTS);
}

/* The part of every data syscall's exit that does not depend on the syscall: connection lookup or
 * creation, L4 stats, protocol detection, role inference and the data events. */
static __always_inline int data_main_body(void *ctx, void *tmap, bool rb)
{
	struct scratch *s = scratch();
	struct netobserver_config *cfg = config();
	struct work *w;
	struct conn *c;
	u32 tgid;
	bool egress, lh_pending, scan = false;
	u16 len2;
	u64 pos;
	u32 proto, type = TypeUnknown;

	if (!s || !cfg)
		return 0;
	w = &s->w;
	tgid = w->key >> 32;
	egress = w->dir == DirEgress;
	c = bpf_map_lookup_elem(&conn_map, &w->key);
	if (!c) {
		union sockaddr_t a;
		u8 sock_type = 0;
		u64 file = 0;
		u16 family = fd_peer((s32)w->key, &a, &sock_type, &file);

		if (!family)
			return 0;
		if (w->has_addr && family != AF_UNIX)
			a = w->addr;
		/* A first sendto/recvfrom/sendmsg/recvmsg/sendmmsg/recvmmsg announces itself; a first read or
		 * write on a socket opened before us stays silent, as in the original. */
		c = track(ctx, w->key, &a, IsUnknown, sock_type, file,
			  (w->func >= FuncSend && w->func <= FuncRecvMsg) || w->func == FuncSendMmsg ||
				  w->func == FuncRecvMmsg,
			  rb);
		if (!c)
			return 0;
	} else if (c->addr.sa.family == AF_UNKNOWN && w->has_addr) {
		c->addr = w->addr;
	}

	if (egress) {
		c->wr_bytes += w->total;
		c->wr_pkts++;
		pos = c->wr_bytes;
	} else {
		c->rd_bytes += w->total;
		c->rd_pkts++;
		pos = c->rd_bytes;
	}
	if (c->wr_bytes + c->rd_bytes - c->last_wr_bytes - c->last_rd_bytes >= STATS_BYTES_STEP ||
	    c->wr_pkts + c->rd_pkts - c->last_wr_pkts - c->last_rd_pkts >= STATS_PKTS_STEP)
		emit_stats(ctx, c, 0, rb);

	/* Ciphertext never reaches the parsers: a TLS library's probes send the plaintext. */
	if (c->tls)
		return 0;
	/* sendfile's bytes of an aggregated response count for it. */
	if (rb && w->kind == K_NONE && c->agg == AGG_CONN_ON) {
		s->ev.attr.conn_id = c->id;
		s->ev.attr.type = c->role == IsServer ? TypeResponse : TypeRequest;
		bpf_tail_call(ctx, tmap, c->protocol == ProtoRedis ? TAIL_REDIS_AGG : TAIL_HTTP_AGG);
		return 0;
	}
	if (w->kind == K_NONE || !c->sampled || !cfg->proto_set || !cfg->proto_mask || !w->head_len)
		return 0;

	lh_pending = !egress && c->lh_pending;
	len2 = egress ? 0 : c->len2;
	if (!egress) {
		bool byte1 = c->byte1_pending;

		c->lh_pending = 0;
		c->len2 = 0;
		c->byte1_pending = 0;
		if (w->total == 4 && w->head_len == 4) {
			u32 lh = 0;
			bpf_probe_read_user(&lh, 4, (void *)w->head);
			c->length_header = lh;
			c->lh_pending = 1;
		} else if (w->total == 2 && w->head_len == 2 && c->protocol == ProtoUnknown) {
			u8 l[2] = {};
			bpf_probe_read_user(l, 2, (void *)w->head);
			c->len2 = ((u16)l[0] << 8) | l[1];
		} else if (w->total == 1 && w->head_len == 1 && c->protocol == ProtoUnknown) {
			u8 l = 0;
			bpf_probe_read_user(&l, 1, (void *)w->head);
			if (byte1) {
				c->len2 = ((u16)c->byte1 << 8) | l;
			} else {
				c->byte1 = l;
				c->byte1_pending = 1;
			}
		}
	}

	proto = c->protocol;
	/* Within TLS_HELLO_WINDOW of its start a connection is checked for a TLS handshake even with
	 * its protocol known: a protocol that switches to TLS after a plaintext start (MySQL's SSL
	 * request, NATS after INFO). */
	if (proto == ProtoUnknown || c->role == IsUnknown || pos - w->total < TLS_HELLO_WINDOW) {
		u8 head[16] = {};
		u16 tail = 0;

		detect_head(w->head, w->head_len, head, &tail);
		if (tls_hello(head, w->head_len)) {
			tls_start(c, egress, w->total);
			return 0;
		}
		proto = detect(head, w->head_len, tail, c->length_header, lh_pending, len2,
			       c->sock_type == SOCK_DGRAM, pos == w->total, &type);
		/* DNS over TCP written as two iovecs, the 2-byte length and the message (dig). */
		if (proto == ProtoUnknown && w->kind == K_IOV && w->first_len == 2 && w->vec_cnt >= 2 &&
		    w->total >= 14 && c->sock_type != SOCK_DGRAM &&
		    ((((u32)head[0] << 8) | head[1]) == w->total - 2)) {
			struct user_iovec v2;
			u8 h[12] = {};

			if (!bpf_probe_read_user(&v2, sizeof(v2), (void *)(w->vec + sizeof(v2))) && v2.len >= 12 &&
			    !bpf_probe_read_user(h, sizeof(h), (void *)v2.base) && dns_header(h)) {
				proto = ProtoDNS;
				type = (h[2] & 0x80) ? TypeResponse : TypeRequest;
			}
		}
		if (c->protocol == ProtoUnknown)
			c->protocol = proto;
		else if (proto != c->protocol)
			type = TypeUnknown; /* a role is only inferred from the connection's protocol */
		proto = c->protocol;
		if (c->role == IsUnknown && type != TypeUnknown)
			c->role = (egress ^ (type == TypeResponse)) ? IsClient : IsServer;
	}
	if (c->role == IsClient)
		type = egress ? TypeRequest : TypeResponse;
	else if (c->role == IsServer)
		type = egress ? TypeResponse : TypeRequest;

	if (!(cfg->tgid_filter > 0 && (u32)cfg->tgid_filter == tgid) &&
	    (proto == ProtoUnknown || !(cfg->proto_mask & (1u << (proto - 1)))))
		return 0;

	w->start = pos - w->total;
	w->cut_from = 0;
	w->cut_to = 0;
	w->copied = 0;
	w->conn_addr = c->addr;
	/* HTTP bodies go out as sizes (see http_head_body). Only the tp_btf set has the header scan:
	 * it needs a bounded loop (5.3+). Inside a known body, a syscall that starts with a request or
	 * status line is a new message all the same (the reply to a HEAD request declares a
	 * Content-Length it does not send). */
	if (rb && proto == ProtoHTTP) {
		u64 *body_end = egress ? &c->wr_body_end : &c->rd_body_end;
		u8 h[8] = {};

		if (*body_end <= w->start) {
			*body_end = 0;
			scan = true;
		} else if (w->head_len >= 8 && !bpf_probe_read_user(h, sizeof(h), (void *)w->head) && http_start(h)) {
			*body_end = 0;
			scan = true;
		} else {
			w->cut_from = w->start;
			w->cut_to = *body_end;
		}
	}

	s->ev.attr.ts = bpf_ktime_get_ns();
	s->ev.attr.conn_id = c->id;
	s->ev.attr.addr = w->has_addr ? w->addr : c->addr;
	s->ev.attr.protocol = proto;
	s->ev.attr.role = c->role;
	s->ev.attr.type = type;
	s->ev.attr.direction = w->dir;
	s->ev.attr.syscall_func = w->func;
	s->ev.attr.pos = pos;
	s->ev.attr.length_header = c->length_header;
	s->ev.attr.try_to_prepend = lh_pending && proto == ProtoKafka;

	/* Kernel aggregation (tp_btf with bpf_loop; the slot is empty otherwise, and the tail call
	 * falls through to today's capture). */
	if (rb && (proto == ProtoHTTP || proto == ProtoRedis) && c->agg != AGG_CONN_FALLBACK && c->role != IsUnknown &&
	    (cfg->agg_mask & (1u << (proto - 1)))) {
		c->agg = AGG_CONN_ON;
		w->agg_scan = scan;
		bpf_tail_call(ctx, tmap, proto == ProtoRedis ? TAIL_REDIS_AGG : TAIL_HTTP_AGG);
		c->agg = AGG_CONN_OFF;
	}
	if (scan)
		bpf_tail_call(ctx, tmap, TAIL_HTTP_HEAD);
	/* memcached's data blocks (values) go out as sizes too, within one syscall (memc_head_body). */
	if (rb && proto == ProtoMemcached)
		bpf_tail_call(ctx, tmap, TAIL_MEMC_HEAD);
	emit_data(ctx, s, w, tmap, rb);
	return 0;
}

/* The end of HTTP headers: CRLF CRLF. */
#define HTTP_SCAN_MAX 4096
/* "content-" and "length:" as little-endian words, and the bits that fold their letters' case. */
#define W_CONTENT_ 0x2d746e65746e6f63ULL
#define W_LENGTH_ 0x003a6874676e656cULL
#define W_TRANSFER 0x726566736e617274ULL
#define W_ENCODIN 0x6e69646f636e652dULL
#define FOLD_CONTENT_ 0x0020202020202020ULL
#define FOLD_LENGTH_ 0x0000202020202020ULL
#define FOLD_TRANSFER 0x2020202020202020ULL
#define FOLD_ENCODIN 0x2020202020202000ULL

/* Opaque to the compiler, like bound_payload: [1, HTTP_SCAN_MAX] for an input in that range. */
static __always_inline u64 bound_scan(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0xfff\n\t%0 += 1" : "+r"(n));
	return n;
}

/* One line of the header section, l (byte j of the head, after a newline): true at the empty line
 * that ends the headers; a Content-Length or Transfer-Encoding name (either case) is noted in w. */
static __always_inline bool http_header_line(const u8 *l, struct work *w, u32 j)
{
	u64 x, y;

	if (l[0] == '\r' && l[1] == '\n') {
		w->scan_hend = j + 2;
		return true;
	}
	x = *(const u64 *)l;
	y = *(const u64 *)(l + 8);
	if ((x | FOLD_CONTENT_) == W_CONTENT_ && ((y & 0x00ffffffffffffffULL) | FOLD_LENGTH_) == W_LENGTH_) {
		*(volatile u32 *)&w->scan_ncl += 1;
		*(volatile u64 *)&w->scan_clpos = j + 15;
	} else if ((x | FOLD_TRANSFER) == W_TRANSFER && (y | FOLD_ENCODIN) == W_ENCODIN) {
		*(volatile u32 *)&w->scan_te = 1;
	}
	return false;
}

/* "host:", "upgrade:", "expect:" as little-endian words and their case-folding bits. */
#define W_HOST_ 0x0000003a74736f68ULL
#define FOLD_HOST_ 0x0000000020202020ULL
#define W_UPGRADE_ 0x3a65646172677075ULL
#define FOLD_UPGRADE_ 0x0020202020202020ULL
#define W_EXPECT_ 0x003a746365707865ULL
#define FOLD_EXPECT_ 0x0000202020202020ULL

/* http_header_line for the kernel aggregation's request scan, which also needs the end of the
 * request line (the first line seen), the Host header and whether the request may switch protocols
 * or wait for a 100 Continue (Upgrade, Expect): those are never aggregated. Its response scan
 * needs no more than http_header_line's. */
static __always_inline bool agg_header_line(const u8 *l, struct work *w, u32 j)
{
	u64 x;

	if (!w->scan_rlend)
		*(volatile u64 *)&w->scan_rlend = j;
	if (http_header_line(l, w, j))
		return true;
	if (w->scan_response)
		return false;
	x = *(const u64 *)l;
	if (((x & 0xffffffffffULL) | FOLD_HOST_) == W_HOST_) {
		*(volatile u32 *)&w->scan_nhost += 1;
		*(volatile u64 *)&w->scan_hostpos = j + 5;
	} else if ((x | FOLD_UPGRADE_) == W_UPGRADE_ || ((x & 0x00ffffffffffffffULL) | FOLD_EXPECT_) == W_EXPECT_) {
		*(volatile u32 *)&w->scan_refuse = 1;
	}
	return false;
}

/* Bytes per http_scan_block run: fewer runs (each a call and a return through the return thunk)
 * against a larger callback for the verifier. */
#define HTTP_SCAN_BLOCK 64
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* bpf_loop callback of the header scan: block idx of the bytes copied (ctx: the scratch area). A
 * word without a newline costs a handful of instructions: t = (v - ONES) & ~v & HIGHS on v, the
 * word XOR '\n' in every byte, is 0 exactly when no byte is a newline. Otherwise its lowest set
 * bit marks the first newline, the ones above it newlines or 0x0b bytes right after one (the
 * borrow), so each is checked: a bit's byte index is found by a multiply, not byte by byte.
 * Stops the loop (1) at the end of the headers, which the sentinel guarantees by the block holding
 * byte n. */
static __always_inline long scan_block(const u8 *p, u32 off, struct work *w, bool agg)
{
	/* The block's bytes are addressed from p by additions: the compiler would OR the block offset
	 * and a byte index into one scalar, and verifiers before 6.x lose the bounds of an OR of two
	 * unknowns. */
	asm volatile("" : "+r"(p));
#pragma unroll
	for (u32 k = 0; k < HTTP_SCAN_BLOCK; k += 8) {
		u64 v = *(const u64 *)(p + k) ^ (ONES * '\n');
		u64 t = (v - ONES) & ~v & HIGHS;

#pragma clang loop unroll(disable)
		for (u32 c = 0; c < 8 && t; c++) {
			/* (t & -t) >> 7 is 1 << 8m for the byte m of the lowest bit; times the bytes
			 * 7, 6, …, 0 (low to high) it has m in its top byte. */
			u32 m = (((t & -t) >> 7) * 0x0001020304050607ULL) >> 56 & 7;
			const u8 *q = p + k + m;

			if (q[0] == '\n' && (agg ? agg_header_line(q + 1, w, off + k + m + 1)
						  : http_header_line(q + 1, w, off + k + m + 1)))
				return 1;
			t &= t - 1;
		}
	}
	return 0;
}

/* ctx: the scratch area, whose ev.msg holds the bytes. */
static long http_scan_block(u32 idx, void *ctx)
{
	struct scratch *s = *(struct scratch **)ctx;
	u32 off = (idx & 0x7f) * HTTP_SCAN_BLOCK;

	return scan_block((const u8 *)s->ev.msg + off, off, &s->w, false);
}

/* The kernel aggregation's head scans: the bytes are in the connection's agg_conn, its head (a
 * request) or its resp (a response, which lies before head: the bound below holds for both). */
struct agg_scan {
	struct work *w;
	const u8 *p;
};

static long agg_scan_block(u32 idx, void *ctx)
{
	struct agg_scan *x = ctx;
	const u8 *p = x->p;
	u64 off = (u64)idx * HTTP_SCAN_BLOCK;

	/* The loop runs up to the block holding byte n <= AGG_HEAD_KEEP. The bound is applied in the
	 * register the pointer is advanced by, in one asm: the compiler may test a copy of off it
	 * spilled first, whose bound 6.1's verifier does not carry over to the one it reloads. */
	if (off > AGG_HEAD_KEEP)
		return 1;
	asm volatile("if %[o] <= %[max] goto +1\n\t%[o] = %[max]\n\t%[p] += %[o]"
		     : [p] "+r"(p), [o] "+r"(off)
		     : [max] "i"(AGG_HEAD_KEEP));
	return scan_block(p, off, x->w, true);
}

/* A syscall that starts an HTTP message (tp_btf set only): scans the head of its first buffer for
 * the end of the headers and Content-Length. A body announced by a single Content-Length, without
 * Transfer-Encoding, in a message that has one (not a 1xx, 204 or 304 reply) is known: the chunks
 * that end inside it carry no body bytes, and if it runs past this syscall the connection remembers
 * where it ends for the next ones. Headers that do not end within HTTP_SCAN_MAX bytes of the first
 * buffer, chunked bodies and bodies that end at close are exported whole, as before. */
/* Before a header scan of the n bytes at b: the sentinel header end right after them, and what
 * the scan finds, cleared. */
static __always_inline void scan_start(u8 *b, u64 n, struct work *w)
{
	b[n] = '\n';
	b[n + 1] = '\r';
	b[n + 2] = '\n';
	w->scan_hend = 0;
	w->scan_clpos = 0;
	w->scan_ncl = 0;
	w->scan_te = 0;
}

/* A Content-Length value at v: an optional blank, at most 13 digits (a TiB), then the end of the
 * line; false for anything else. */
static __always_inline bool content_length(const u8 *v, u64 *cl)
{
	u32 k = 0, digits = 0;
	u64 n = 0;

	if (v[0] == ' ' || v[0] == '\t')
		k++;
#pragma unroll
	for (int d = 0; d < 14; d++) {
		u8 c = v[k + d];

		if (c < '0' || c > '9')
			break;
		n = n * 10 + (c - '0');
		digits++;
	}
	k += digits;
	if (!digits || digits > 13 || (v[k] != '\r' && v[k] != ' ' && v[k] != '\t'))
		return false;
	*cl = n;
	return true;
}

static __always_inline int http_head_body(void *ctx, void *tmap, bool words)
{
	struct scratch *s = scratch();
	struct work *w;
	u64 n, hend, clpos, cl = 0;
	bool nobody = false;
	u8 *b;

	if (!s)
		return 0;
	w = &s->w;
	n = bound_scan(w->head_len < HTTP_SCAN_MAX ? w->head_len : HTTP_SCAN_MAX);
	if (bpf_probe_read_user(s->ev.msg, n, (void *)w->head))
		goto emit;
	w->copied = n;
	b = (u8 *)s->ev.msg;
	if (n < 8 || !http_start(b))
		goto emit;
	if (b[0] == 'H' && b[1] == 'T' && n > 12) {
		u8 d0 = b[9], d1 = b[10], d2 = b[11];
		nobody = d0 == '1' || (d1 == '0' && d2 == '4' && (d0 == '2' || d0 == '3'));
	}
	/* A sentinel header end right after the n bytes copied stops either scan there without a
	 * bound test per byte: found at n + 3, it is refused below, and whatever precedes a header end
	 * within n lies within n. What the scan finds is kept in the scratch map, not in registers, so
	 * that the verifier's state after a header line equals the one before it and its walk does not
	 * fork per line.
	 *
	 * words (bpf_loop, 5.17+): http_scan_block tests eight bytes at a time for a newline; the
	 * verifier checks the callback, not each of its runs. Otherwise the byte loop, which the
	 * verifier walks byte by byte (4093 iterations, ≈ 595 000 instructions): constant bounds; a
	 * newline is a jump away from the straight path (asm goto: the verifier follows the straight
	 * path first and keeps a pending state per jump, at most 8192 of them). */
	scan_start(b, n, w);
	if (words) {
		/* Blocks of HTTP_SCAN_BLOCK bytes up to the one holding the sentinel (n <= 4096). */
		bpf_loop(n / HTTP_SCAN_BLOCK + 1, http_scan_block, &s, 0);
	} else {
#pragma clang loop unroll(disable)
		for (u32 i = 0; i < HTTP_SCAN_MAX - 3; i++) {
			u64 ch = b[i];

			asm goto("if %[ch] == 10 goto %l[newline]" : : [ch] "r"(ch) : : newline);
			continue;
newline:
			if (http_header_line(b + i + 1, w, i + 1))
				break;
		}
	}
	hend = w->scan_hend;
	clpos = w->scan_clpos;
	if (!hend || hend > n || w->scan_ncl != 1 || w->scan_te || nobody)
		goto emit;
	if (!content_length(b + (clpos & (HTTP_SCAN_MAX - 1)), &cl))
		goto emit;
	if (cl) {
		w->cut_from = w->start + hend;
		w->cut_to = w->cut_from + cl;
		if (w->cut_to > w->start + w->total) {
			struct conn *c = bpf_map_lookup_elem(&conn_map, &w->key);

			if (c && w->dir == DirEgress)
				c->wr_body_end = w->cut_to;
			else if (c)
				c->rd_body_end = w->cut_to;
		}
	}
emit:
	emit_data(ctx, s, w, tmap, true);
	return 0;
}


/* ---- kernel aggregation (HTTP/1.x; tp_btf with bpf_loop) ------------------------------------- */

/* content_length for the request and the response scans: one copy in the program, which is near
 * its instruction bound. */
static __noinline bool agg_content_length(const u8 *v, u64 *cl)
{
	return content_length(v, cl);
}

/* Opaque to the compiler, like bound_payload: [1, AGG_HEAD_KEEP] for an input in that range. */
static __always_inline u64 bound_keep(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0x3ff\n\t%0 += 1" : "+r"(n));
	return n;
}

/* agg_request's verdict for an aggregated request: past the counters' indexes. */
#define AGG_OK NETOBSERVER_AGG_NUM_COUNTERS

/* The request line's method (netobserver_agg_key's code, 0: not one we aggregate) and its length. */
static __always_inline u32 agg_method(const u8 *b, u32 *len)
{
	u32 w4 = (u32)b[0] | (u32)b[1] << 8 | (u32)b[2] << 16 | (u32)b[3] << 24;

	switch (w4) {
	case 0x20544547: /* "GET " */
		*len = 3;
		return 1;
	case 0x54534f50: /* "POST" */
		*len = 4;
		return b[4] == ' ' ? 2 : 0;
	case 0x20545550: /* "PUT " */
		*len = 3;
		return 3;
	case 0x44414548: /* "HEAD" */
		*len = 4;
		return b[4] == ' ' ? 4 : 0;
	case 0x43544150: /* "PATC" */
		*len = 5;
		return b[4] == 'H' && b[5] == ' ' ? 5 : 0;
	case 0x454c4544: /* "DELE" */
		*len = 6;
		return b[4] == 'T' && b[5] == 'E' && b[6] == ' ' ? 6 : 0;
	case 0x4954504f: /* "OPTI" */
		*len = 7;
		return b[4] == 'O' && b[5] == 'N' && b[6] == 'S' && b[7] == ' ' ? 7 : 0;
	}
	return 0;
}

/* A request-direction syscall with no request pending: aggregated (AGG_OK, the connection's call
 * now PENDING) only if its one plain buffer holds exactly one whole simple request head and at
 * most its Content-Length body; else the fallback reason. */
static __always_inline u32 agg_request(struct scratch *s, struct work *w, struct agg_conn *a)
{
	u64 n, hend, nl, tlen, cl = 0;
	u32 method, mlen = 0;
	struct agg_scan x = {w, a->head};
	const u8 *v;
	u8 *b;

	if (w->kind != K_BUF || w->total > CONN_DATA_MAX_SIZE)
		return NETOBSERVER_AGG_FB_NOT_PLAIN;
	/* A head longer than AGG_HEAD_KEEP is not aggregated, so no more is read: its end is not
	 * found in these bytes and it falls back as FB_HEAD all the same. */
	n = bound_keep(w->head_len < AGG_HEAD_KEEP ? w->head_len : AGG_HEAD_KEEP);
	b = a->head;
	if (n < 18 || bpf_probe_read_user(b, n, (void *)w->head))
		return NETOBSERVER_AGG_FB_HEAD;
	method = agg_method(b, &mlen);
	if (!method || b[mlen + 1] != '/')
		return NETOBSERVER_AGG_FB_HEAD;
	/* The sentinel and the scan of http_head_body, with agg_header_line. */
	scan_start(b, n, w);
	w->scan_rlend = 0;
	w->scan_nhost = 0;
	w->scan_hostpos = 0;
	w->scan_refuse = 0;
	w->scan_response = 0;
	bpf_loop(n / HTTP_SCAN_BLOCK + 1, agg_scan_block, &x, 0);
	hend = w->scan_hend;
	nl = w->scan_rlend;
	if (!hend || hend > n || w->scan_ncl > 1 || w->scan_te || w->scan_refuse ||
	    w->scan_nhost != 1)
		return NETOBSERVER_AGG_FB_HEAD;
	/* "<method> /<target> HTTP/1.x\r\n": nl is just past the newline. */
	if (nl < mlen + 13 || nl > n)
		return NETOBSERVER_AGG_FB_HEAD;
	v = b + ((nl - 11) & (AGG_HEAD_KEEP - 1));
	if (v[0] != ' ' || v[1] != 'H' || v[2] != 'T' || v[3] != 'T' || v[4] != 'P' || v[5] != '/' || v[6] != '1' ||
	    v[7] != '.' || (v[8] != '0' && v[8] != '1') || v[9] != '\r')
		return NETOBSERVER_AGG_FB_HEAD;
	if (w->scan_ncl && !agg_content_length(b + (w->scan_clpos & (AGG_HEAD_KEEP - 1)), &cl))
		return NETOBSERVER_AGG_FB_HEAD;
	if (hend + cl < w->total)
		return NETOBSERVER_AGG_FB_EXTRA;

	__builtin_memset(a->key.host, 0, sizeof(a->key.host) + sizeof(a->key.path));
	a->key.role = s->ev.attr.role;
	a->key.protocol = ProtoHTTP;
	a->key.status = 0;
	a->key.method = method;
	a->key.version = v[8] - '0';
	tlen = nl - 11 - (mlen + 1);
	{
		/* The path as parser/http's resource() takes it: the target up to '?' or '#'. A path
		 * or Host longer than the key holds is never cut (two paths would share a key): the
		 * connection falls back. So is a blank inside the target or the Host value, which
		 * the parser reads otherwise (it ends the target; it is kept inside a Host value, and
		 * several leading or trailing blanks are trimmed). */
		const u8 *p = b + mlen + 1;
		bool ended = false;

#pragma unroll
		for (int i = 0; i <= NETOBSERVER_AGG_PATH_MAX; i++) {
			u8 c = p[i];

			if ((u64)i >= tlen || c == '?' || c == '#') {
				ended = true;
				break;
			}
			if (c == ' ')
				return NETOBSERVER_AGG_FB_HEAD;
			if (i == NETOBSERVER_AGG_PATH_MAX)
				break;
			a->key.path[i] = c;
		}
		if (!ended)
			return NETOBSERVER_AGG_FB_LONG;
	}
	{
		const u8 *h = b + (w->scan_hostpos & (AGG_HEAD_KEEP - 1));
		bool ended = false;

		if (h[0] == ' ' || h[0] == '\t')
			h++;
#pragma unroll
		for (int i = 0; i <= NETOBSERVER_AGG_HOST_MAX; i++) {
			u8 c = h[i];

			if (c == '\r') {
				ended = true;
				break;
			}
			if (c == ' ' || c == '\t' || c == '\n')
				return NETOBSERVER_AGG_FB_HEAD;
			if (i == NETOBSERVER_AGG_HOST_MAX)
				break;
			a->key.host[i] = c;
		}
		if (!ended)
			return NETOBSERVER_AGG_FB_LONG;
	}
	/* The syscall is one chunk (at most 16 KiB) that ends inside or at the end of its body, or
	 * has none: today it is one event carrying the head. */
	a->attr = s->ev.attr;
	a->attr.org_msg_size = w->total;
	a->attr.msg_buf_size = hend;
	a->req_ts = s->ev.attr.ts;
	a->req_bytes = w->total;
	a->body_left = hend + cl - w->total;
	/* Where the body ends, as http_head_body notes it: a fallback before it ends then goes on
	 * exactly as today's capture would. */
	if (a->body_left) {
		struct conn *c = bpf_map_lookup_elem(&conn_map, &w->key);

		if (c && w->dir == DirEgress)
			c->wr_body_end = w->start + hend + cl;
		else if (c)
			c->rd_body_end = w->start + hend + cl;
	}
	/* A request while the response is under way: its rest, when its length is known, is paid
	 * to its call first (http_agg_body); else the next response may not start where the kernel
	 * expects it (NETOBSERVER_AGG_FB_UNFINISHED). */
	a->prev_left = a->state == AGG_RESPONDING && a->resp_known ? a->resp_left : 0;
	a->after_response = a->state == AGG_RESPONDING && !a->resp_known;
	a->state = AGG_PENDING;
	return AGG_OK;
}

static __always_inline bool same_key(const struct netobserver_agg_key *x, const struct netobserver_agg_key *y)
{
	const u64 *p = (const u64 *)x, *q = (const u64 *)y;

#pragma unroll
	for (u32 i = 0; i < sizeof(*x) / sizeof(u64); i++)
		if (p[i] != q[i])
			return false;
	return true;
}

/* The entry of a's current call key, created if new; NULL: a map is full. The number of the key
 * its last call had is kept in a; another key's is looked up in agg_index, or given. The index
 * entry is written before a new entry, so the readout finds the number of every entry it reads
 * (also of one recreated after user space deleted it). */
static __always_inline struct agg_entry *agg_entry(struct scratch *s, struct agg_conn *a)
{
	struct agg_entry_key k = {};
	struct agg_entry *e, *fresh, *n;
	u32 zero = 0;

	if (!same_key(&a->key, &a->last)) {
		u32 *slot = bpf_map_lookup_elem(&agg_index, &a->key);

		if (slot) {
			a->last_slot = *slot;
		} else {
			a->last_slot = a->slots;
			a->slots++;
		}
		a->last = a->key;
	}
	k.conn = a->key.conn;
	k.slot = a->last_slot;
	e = bpf_map_lookup_elem(&agg_entries, &k);
	if (e)
		return e;
	/* Built in the scratch area (too large for the stack) and inserted whole: the readout never
	 * sees an entry without its key. */
	fresh = bpf_map_lookup_elem(&agg_fresh_entry, &zero);
	n = (struct agg_entry *)s->ev.msg;
	if (!fresh || bpf_probe_read_kernel(&n->v, sizeof(n->v), &fresh->v) ||
	    bpf_probe_read_kernel(&n->key, sizeof(n->key), &a->key))
		return NULL;
	if (bpf_map_update_elem(&agg_index, &a->key, &k.slot, BPF_ANY))
		return NULL;
	bpf_map_update_elem(&agg_entries, &k, n, BPF_NOEXIST);
	e = bpf_map_lookup_elem(&agg_entries, &k);
	if (!e)
		bpf_map_delete_elem(&agg_index, &a->key);
	return e;
}

/* Counts latency ns in e's histogram: in the observer's bucket of it (the largest i whose bound
 * is at most ns, a binary search over the bounds), as the first of the entry's buckets when below
 * them. */
static __always_inline void agg_count_latency(struct netobserver_agg_value *e, u64 ns)
{
	u32 zero = 0, i = 0;
	struct agg_latency_bounds *b = bpf_map_lookup_elem(&agg_latency_bounds, &zero);

	if (!b)
		return;
#pragma unroll
	for (u32 step = NETOBSERVER_LATENCY_BUCKETS / 2; step > 0; step /= 2)
		if (b->bound[(i + step) & (NETOBSERVER_LATENCY_BUCKETS - 1)] <= ns)
			i += step;
	i = i > NETOBSERVER_AGG_HIST_FIRST ? i - NETOBSERVER_AGG_HIST_FIRST : 0;
	if (i < NETOBSERVER_AGG_HIST_BUCKETS)
		__sync_fetch_and_add(&e->latency_hist[i], 1);
}

/* The connection's aggregation state; made at its first aggregated syscall (or when an earlier
 * connection's entry on its fd, whose close went unseen, is found). NULL: the map is full. */
static __always_inline struct agg_conn *agg_conn_of(struct scratch *s, struct work *w)
{
	struct agg_conn *a = bpf_map_lookup_elem(&agg_conns, &w->key);
	struct agg_conn *fresh;
	u32 zero = 0;

	if (a && a->key.conn.start == s->ev.attr.conn_id.start)
		return a;
	fresh = bpf_map_lookup_elem(&agg_fresh, &zero);
	if (!fresh || bpf_map_update_elem(&agg_conns, &w->key, fresh, BPF_ANY))
		return NULL;
	a = bpf_map_lookup_elem(&agg_conns, &w->key);
	if (a)
		a->key.conn = s->ev.attr.conn_id;
	return a;
}

/* A request-direction syscall while a request is pending: true if it is that request's body. */
static __always_inline bool agg_request_body(struct agg_conn *a, struct work *w)
{
	if (w->total > a->body_left)
		return false;
	a->body_left -= w->total;
	a->req_bytes += w->total;
	return true;
}

/* The pending call's response started (at ts, with resp_bytes of it): the call is counted. */
static __always_inline void agg_count_call(struct netobserver_agg_value *v, struct agg_conn *a, u64 ts, u64 resp_bytes)
{
	u64 latency = ts - a->req_ts;

	__sync_fetch_and_add(&v->latency_ns, latency);
	__sync_fetch_and_add(&v->req_bytes, a->req_bytes);
	__sync_fetch_and_add(&v->resp_bytes, resp_bytes);
	agg_count_latency(v, latency);
	__sync_fetch_and_add(&v->count, 1);
}

/* The connection falls back to today's capture for good, counted by reason; a pending request
 * (lost) goes out as its kept event when it is whole, else counts as lost. The caller then
 * captures this syscall. */
static __always_inline void agg_fall_back(void *ctx, struct work *w, struct agg_conn *a, u32 reason, bool lost,
					  bool whole)
{
	struct conn *c;

	agg_count(reason);
	if (lost && whole) {
		output(ctx, DATA_HAND, &data_events, &a->attr, sizeof(a->attr) + bound_keep(a->attr.msg_buf_size), true);
		agg_count(NETOBSERVER_AGG_PENDING_EXPORTED);
	} else if (lost) {
		agg_count(NETOBSERVER_AGG_LOST_CALLS);
	}
	c = bpf_map_lookup_elem(&conn_map, &w->key);
	if (c)
		c->agg = AGG_CONN_FALLBACK;
	bpf_map_delete_elem(&agg_conns, &w->key);
}

/* Opaque to the compiler, like bound_payload: [1, AGG_RESP_SCAN] for an input in that range. */
static __always_inline u64 bound_resp(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0xff\n\t%0 += 1" : "+r"(n));
	return n;
}

/* The status code of a response's first 12 bytes at b: 0 if they do not start with "HTTP/1.", 1 if
 * they have no final status code. One copy for agg_response's two reads (the program is near its
 * instruction bound). */
static __noinline u32 agg_status(const u8 *b)
{
	if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' || b[5] != '1' || b[6] != '.')
		return 0;
	if (b[8] != ' ' || b[9] < '2' || b[9] > '9' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return 1;
	return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

/* The first syscall of the pending call's response, which starts off bytes into the syscall's
 * first buffer: AGG_OK with its status in the call's key if it starts with a final status line,
 * else the fallback reason.
 *
 * The response's length matters only if the client sends its next request before it has read the
 * whole response, and only on the client's end (a server that reads the next request before it has
 * written the whole response is what NETOBSERVER_AGG_FB_UNFINISHED counts). If the client's first
 * read of it did not fill the buffers it offered, it took all that had arrived: either the whole
 * response, or one still in flight, whose rest after an early request stays the counted fallback.
 * Only a read that filled them (the rest may be waiting in the socket) pays for reading its head
 * into a->resp and scanning it as a request's: that gives the response's length when it is whole
 * in AGG_RESP_SCAN bytes and announces a single Content-Length without Transfer-Encoding, or no
 * body at all (a HEAD request's response, 204, 304: RFC 9112 6.3); a->resp_left then counts down
 * its bytes still to come. Chunked, a body that ends at close, a longer head: the length stays
 * unknown. Any other response's status line is read to the stack, 12 bytes, as cheap as can be. */
static __always_inline u32 agg_response(struct work *w, struct agg_conn *a, u64 off)
{
	/* Not even a status line's start after a request sent while the previous response (of
	 * unknown length) was under way: that response's rest. */
	u32 reason = a->after_response ? NETOBSERVER_AGG_FB_UNFINISHED : NETOBSERVER_AGG_FB_STATUS;
	struct agg_scan x = {w, a->resp};
	u64 n, hend, part, cl = 0;
	u8 *b = a->resp;
	u32 status;
	u8 h[12];

	a->resp_known = 0;
	if (w->head_len < off + sizeof(h))
		return reason;
	if (w->dir != DirIngress || !w->filled) {
		if (bpf_probe_read_user(h, sizeof(h), (void *)(w->head + off)))
			return reason;
		status = agg_status(h);
		if (status < 2)
			return status ? NETOBSERVER_AGG_FB_STATUS : reason;
		a->key.status = status;
		return AGG_OK;
	}
	n = w->head_len - off;
	n = bound_resp(n < AGG_RESP_SCAN ? n : AGG_RESP_SCAN);
	if (bpf_probe_read_user(b, n, (void *)(w->head + off)))
		return reason;
	status = agg_status(b);
	if (status < 2)
		return status ? NETOBSERVER_AGG_FB_STATUS : reason;
	a->key.status = status;
	scan_start(b, n, w);
	w->scan_response = 1;
	bpf_loop(n / HTTP_SCAN_BLOCK + 1, agg_scan_block, &x, 0);
	hend = w->scan_hend;
	if (!hend || hend > n)
		return AGG_OK;
	/* method 4: HEAD */
	if (a->key.method != 4 && status != 204 && status != 304 &&
	    (w->scan_te || w->scan_ncl != 1 || !agg_content_length(b + (w->scan_clpos & (AGG_RESP_SCAN - 1)), &cl)))
		return AGG_OK;
	part = w->total - off;
	/* More than the response in its first syscall (nothing else was asked for): as before. */
	if (hend + cl < part)
		return AGG_OK;
	a->resp_left = hend + cl - part;
	a->resp_known = 1;
	return AGG_OK;
}

/* The state machine of an aggregated HTTP/1.x connection (data_main_body sends it every data
 * syscall of one, attributes filled): no data events while it holds; anything it does not expect
 * makes the connection fall back to today's capture for good, from this syscall on, counted. */
static __always_inline int http_agg_body(void *ctx, void *tmap)
{
	struct scratch *s = scratch();
	struct agg_entry *e;
	struct agg_conn *a;
	struct work *w;
	bool lost = false;
	u64 off = 0;
	u32 reason;

	if (!s)
		return 0;
	w = &s->w;
	a = agg_conn_of(s, w);
	reason = NETOBSERVER_AGG_FB_FULL;
	if (!a)
		goto fallback;
	if (s->ev.attr.type == TypeRequest) {
		if (a->state == AGG_PENDING) {
			if (agg_request_body(a, w))
				return 0;
			reason = NETOBSERVER_AGG_FB_PIPELINED;
			lost = true;
			goto fallback;
		}
		reason = agg_request(s, w, a);
		if (reason == AGG_OK)
			return 0;
		goto fallback;
	}
	if (a->state != AGG_RESPONDING) {
		reason = NETOBSERVER_AGG_FB_UNSOLICITED;
		if (a->state != AGG_PENDING)
			goto fallback;
		lost = true;
		/* The rest of the previous response, when the request came before it ended, is that
		 * call's (the connection's last counted one); the new response starts after it. */
		if (a->prev_left) {
			struct agg_entry_key k = {};
			u64 pay = a->prev_left < w->total ? a->prev_left : w->total;

			k.conn = a->key.conn;
			k.slot = a->last_slot;
			e = bpf_map_lookup_elem(&agg_entries, &k);
			/* Never expected: user space deletes the entries of closed connections only. */
			reason = NETOBSERVER_AGG_FB_UNFINISHED;
			if (!e)
				goto fallback;
			__sync_fetch_and_add(&e->v.resp_bytes, pay);
			a->prev_left -= pay;
			if (pay == w->total)
				return 0;
			off = pay;
		}
		/* The first response-direction syscall after a request: its status line. */
		reason = NETOBSERVER_AGG_FB_EARLY;
		if (a->body_left)
			goto fallback;
		reason = agg_response(w, a, off);
		if (reason != AGG_OK)
			goto fallback;
	}
	e = agg_entry(s, a);
	reason = NETOBSERVER_AGG_FB_FULL;
	if (!e)
		goto fallback;
	if (a->state == AGG_RESPONDING) {
		__sync_fetch_and_add(&e->v.resp_bytes, w->total);
		a->resp_left = a->resp_left > w->total ? a->resp_left - w->total : 0;
		return 0;
	}
	a->state = AGG_RESPONDING;
	agg_count_call(&e->v, a, s->ev.attr.ts, w->total - off);
	return 0;

fallback:
	/* A pending request goes out as the event today's capture would have sent, before this
	 * syscall's; if body syscalls followed its head (each would have been an event of its own)
	 * it is lost instead, counted. */
	agg_fall_back(ctx, w, a, reason, lost, lost && a->req_bytes == a->attr.org_msg_size);
	/* Today's capture of this syscall, as data_main_body would have gone on. */
	if (w->kind == K_NONE)
		return 0;
	if (w->agg_scan)
		bpf_tail_call(ctx, tmap, TAIL_HTTP_HEAD);
	emit_data(ctx, s, w, tmap, true);
	return 0;
}

/* ---- kernel aggregation of Redis (RESP; tp_btf with bpf_loop) ----------------------------------- */

/* Arguments of an aggregated command: each takes at least six bytes of the head (1 KiB). */
#define REDIS_AGG_MAX_ARGS 255
/* Parser/redis's bound on a bulk length (maxBlob). */
#define REDIS_MAX_BLOB (4ULL << 30)

/* redis_walk_arg's context: the head and the walk's state. */
struct redis_walk_ctx {
	struct redis_walk *x;
	struct agg_conn *a;
};

/* One bulk string "$<len>\r\n<len bytes>\r\n" of the request: its header must be within the
 * bytes read, and so must its value unless it is the last (a long value runs on past them, in
 * this syscall or the next ones, and is counted by its length). Stops the loop (1) at the last
 * or at anything else. */
static long redis_walk_arg(u32 idx, void *ctx)
{
	struct redis_walk *x = ((struct redis_walk_ctx *)ctx)->x;
	struct agg_conn *a = ((struct redis_walk_ctx *)ctx)->a;
	const u8 *p = a->head;
	u64 off = x->off, len = 0, d, end;
	u32 k = 1;

	x->verdict = NETOBSERVER_AGG_FB_HEAD;
	if (!x->left || off + 4 > x->n || off > AGG_HEAD_KEEP)
		return 1;
	/* As agg_scan_block: the bound in the register the pointer advances by, in one asm. */
	asm volatile("if %[o] <= %[max] goto +1\n\t%[o] = %[max]\n\t%[p] += %[o]"
		     : [p] "+r"(p), [o] "+r"(off)
		     : [max] "i"(AGG_HEAD_KEEP));
	if (p[0] != '$')
		return 1;
	/* One to ten digits, as parser/redis's length(); the bytes past the head's read ones are
	 * stale, so the line must end before x->n. */
#pragma unroll
	for (u32 j = 1; j <= 11; j++) {
		u8 c = p[j];

		if (c == '\r') {
			k = j;
			break;
		}
		if (c < '0' || c > '9' || j == 11)
			return 1;
		len = len * 10 + (c - '0');
	}
	if (k < 2 || x->off + k + 1 >= x->n || p[k + 1] != '\n' || len > REDIS_MAX_BLOB)
		return 1;
	d = x->off + k + 2;
	end = d + len + 2;
	if (idx == 0) {
		x->name = d;
		x->name_len = len;
	} else if (idx == 1) {
		x->sub = d;
		x->sub_len = len;
	}
	x->left--;
	x->off = end;
	if (end > x->n) {
		if (x->left)
			return 1;
	} else {
		const u8 *e = a->head + ((end - 2) & (AGG_HEAD_KEEP - 1));

		if (e[0] != '\r' || e[1] != '\n')
			return 1;
	}
	x->verdict = AGG_OK;
	return x->left == 0;
}

/* Bytes of a simple string's or an error's line redis_walk_reply scans per step (a longer line
 * takes several): more would put redis_agg_btf past 4 096 instructions. */
#define REDIS_LINE_STEP 8
/* Steps of the reply walk: an element takes at least 3 bytes of the 1 KiB read ("_\r\n"). */
#define REDIS_REPLY_STEPS 512
/* What of a blob reply is read for its header ("$<up to 10 digits>\r\n"): a long value costs no
 * 1 KiB read. Other replies are read up to 1 KiB (what the syscall has: +OK costs 5 bytes), so
 * that a flat aggregate such as redis-benchmark's LRANGE 0 99 of 3-byte values (906 bytes) or a
 * long error line is walked whole. */
#define REDIS_REPLY_HEAD 64

static __always_inline bool redis_line_type(u8 t)
{
	switch (t) {
	case '+': case '-': case ':': case '_': case '#': case ',': case '(':
		return true;
	}
	return false;
}

/* One step of the walk of a reply's first bytes (x->n of them, in a->head) for its length: one
 * element (a line type's line up to "\r\n"; a blob's header, length and "\r\n"; at the top
 * only, an aggregate's header, whose elements follow flat), or REDIS_LINE_STEP bytes of a long
 * line. x->verdict is AGG_OK and x->off the reply's length once its last element is walked;
 * anything else (a nested aggregate, an element past the bytes read, a malformed header) stops
 * it unknown. */
static long redis_walk_reply(u32 idx, void *ctx)
{
	struct redis_walk *x = ((struct redis_walk_ctx *)ctx)->x;
	struct agg_conn *a = ((struct redis_walk_ctx *)ctx)->a;
	const u8 *p = a->head;
	u64 off = x->off, num = 0, end;
	u32 k = 0;
	bool neg = false, found = false;
	u8 t;

	x->verdict = NETOBSERVER_AGG_FB_REPLY_END;
	if (off + 2 > x->n || off > AGG_HEAD_KEEP)
		return 1;
	asm volatile("if %[o] <= %[max] goto +1\n\t%[o] = %[max]\n\t%[p] += %[o]"
		     : [p] "+r"(p), [o] "+r"(off)
		     : [max] "i"(AGG_HEAD_KEEP));
	if (!x->in_line) {
		x->type = p[0];
		p++;
		off = x->off + 1;
	} else {
		off = x->off;
	}
	t = x->type;
	if (redis_line_type(t)) {
#pragma unroll
		for (u32 j = 0; j < REDIS_LINE_STEP; j++) {
			if (p[j] == '\r') {
				k = j;
				found = true;
				break;
			}
		}
		if (!found) {
			x->in_line = 1;
			x->off = off + REDIS_LINE_STEP;
			return 0;
		}
	} else {
		/* A header: an optional '-' and one to ten digits. */
#pragma unroll
		for (u32 j = 0; j <= 10; j++) {
			u8 c = p[j];

			if (c == '\r') {
				k = j;
				break;
			}
			if (j == 0 && c == '-')
				neg = true;
			else if (c < '0' || c > '9' || j == 10)
				return 1;
			else
				num = num * 10 + (c - '0');
		}
		if (k < 1 || (neg && (k != 2 || num != 1)))
			return 1;
	}
	if (off + k + 1 >= x->n || p[k + 1] != '\n')
		return 1;
	end = off + k + 2;
	switch (t) {
	case '$': case '!': case '=':
		if (neg) {
			if (t != '$')
				return 1;
			break;
		}
		if (num > REDIS_MAX_BLOB)
			return 1;
		end += num + 2;
		if (end <= x->n) {
			const u8 *e = a->head + ((end - 2) & (AGG_HEAD_KEEP - 1));

			if (e[0] != '\r' || e[1] != '\n')
				return 1;
		}
		break;
	case '*': case '%': case '~':
		/* Flat only: an aggregate inside the top one leaves the length unknown. */
		if (idx)
			return 1;
		if (neg) {
			if (t != '*')
				return 1;
			break;
		}
		if (num > REDIS_REPLY_STEPS)
			return 1;
		x->left += t == '%' ? 2 * num : num;
		break;
	default:
		if (!redis_line_type(t))
			return 1;
	}
	x->in_line = 0;
	x->left--;
	x->off = end;
	if (x->left)
		return 0;
	x->verdict = AGG_OK;
	return 1;
}

/* The length of the reply whose first byte (type t) starts this response-direction syscall, if
 * its first bytes say it (redis_walk_reply); 0: unknown. */
static __always_inline u64 redis_reply_length(struct work *w, struct agg_conn *a, u8 t)
{
	struct redis_walk *x = &w->redis;
	struct redis_walk_ctx wc = {x, a};
	u64 n = t == '$' || t == '!' || t == '=' ? REDIS_REPLY_HEAD : AGG_HEAD_KEEP;

	n = w->head_len < n ? w->head_len : n;
	if (!n || bpf_probe_read_user(a->head, bound_keep(n), (void *)w->head))
		return 0;
	x->n = n;
	x->off = 0;
	x->left = 1;
	x->in_line = 0;
	x->verdict = NETOBSERVER_AGG_FB_REPLY_END;
	bpf_loop(REDIS_REPLY_STEPS, redis_walk_reply, &wc, 0);
	return x->verdict == AGG_OK ? x->off : 0;
}

/* The reply's bytes in a response-direction syscall: more than its known length left is not
 * its end any more (a malformed reply), so its end becomes unknown. */
static __always_inline void redis_reply_bytes(struct agg_conn *a, u64 n)
{
	if (n > a->resp_left)
		a->resp_known = 0;
	else
		a->resp_left -= n;
}

/* Copies the command word of len bytes at p into dst upper-cased (a-z only: user space judges the
 * rest, as the capture parser would); false for a zero byte, which the zero-padded key could not
 * tell from its end. */
#define REDIS_WORD(dst, p, len, max)                                                                  \
	({                                                                                             \
		bool ok_ = true;                                                                       \
		_Pragma("unroll") for (u32 i_ = 0; i_ < (max); i_++)                                    \
		{                                                                                      \
			u8 c_ = (p)[i_];                                                               \
                                                                                                       \
			if (i_ >= (len))                                                               \
				break;                                                                 \
			if (!c_) {                                                                     \
				ok_ = false;                                                           \
				break;                                                                 \
			}                                                                              \
			(dst)[i_] = c_ >= 'a' && c_ <= 'z' ? c_ - ('a' - 'A') : c_;                    \
		}                                                                                      \
		ok_;                                                                                   \
	})

/* Whether the upper-cased command name w (its first 8 bytes, zero-padded; the name at most 8
 * long) is one of parser/redis's container commands, whose second argument is a subcommand. */
static __always_inline bool redis_container(u64 w)
{
	switch (w) {
	case 0x4c4341:           /* ACL */
	case 0x544e45494c43:     /* CLIENT */
	case 0x52455453554c43:   /* CLUSTER */
	case 0x444e414d4d4f43:   /* COMMAND */
	case 0x4749464e4f43:     /* CONFIG */
	case 0x4e4f4954434e5546: /* FUNCTION */
	case 0x59434e4554414c:   /* LATENCY */
	case 0x59524f4d454d:     /* MEMORY */
	case 0x454c55444f4d:     /* MODULE */
	case 0x5443454a424f:     /* OBJECT */
	case 0x425553425550:     /* PUBSUB */
	case 0x545049524353:     /* SCRIPT */
	case 0x474f4c574f4c53:   /* SLOWLOG */
	case 0x50554f524758:     /* XGROUP */
	case 0x4f464e4958:       /* XINFO */
		return true;
	}
	return false;
}

/* Whether the upper-cased name (w0, w1: its first 16 bytes, zero-padded) may make replies come
 * unasked: the pub/sub subscriptions and their UNSUBSCRIBEs (whose confirmations are one reply
 * per channel), MONITOR, and HELLO (RESP3 has pushes). */
static __always_inline bool redis_pushy(u64 w0, u64 w1)
{
	switch (w0) {
	case 0x524f54494e4f4d: /* MONITOR */
	case 0x4f4c4c4548:     /* HELLO */
		return !w1;
	case 0x4249524353425553: /* SUBSCRIB */
		return w1 == 0x45; /* E */
	case 0x4952435342555350: /* PSUBSCRI */
	case 0x4952435342555353: /* SSUBSCRI */
		return w1 == 0x4542; /* BE */
	case 0x5243534255534e55: /* UNSUBSCR */
		return w1 == 0x454249; /* IBE */
	case 0x43534255534e5550: /* PUNSUBSC */
	case 0x43534255534e5553: /* SUNSUBSC */
		return w1 == 0x45424952; /* RIBE */
	}
	return false;
}

/* A request-direction syscall of a Redis connection with no request pending: aggregated (AGG_OK,
 * the call now PENDING) only if its one plain buffer holds exactly one RESP command
 * ("*N\r\n$len\r\narg\r\n…", the last value possibly running on past it); else the fallback
 * reason. The key: the name, upper-cased, and a container command's subcommand. */
static __always_inline u32 redis_request(struct scratch *s, struct work *w, struct agg_conn *a)
{
	struct redis_walk *x = &w->redis;
	struct redis_walk_ctx wc = {x, a};
	u64 n, nargs = 0, w0, w1;
	u32 k = 1;
	u8 *b;

	if (w->kind != K_BUF || w->total > CONN_DATA_MAX_SIZE)
		return NETOBSERVER_AGG_FB_NOT_PLAIN;
	n = bound_keep(w->head_len < AGG_HEAD_KEEP ? w->head_len : AGG_HEAD_KEEP);
	b = a->head;
	/* "*1\r\n$1\r\nX\r\n" is the shortest; inline commands and blank lines fall back. */
	if (n < 11 || bpf_probe_read_user(b, n, (void *)w->head) || b[0] != '*')
		return NETOBSERVER_AGG_FB_HEAD;
#pragma unroll
	for (u32 j = 1; j <= 4; j++) {
		u8 c = b[j];

		if (c == '\r') {
			k = j;
			break;
		}
		if (c < '0' || c > '9' || j == 4)
			return NETOBSERVER_AGG_FB_HEAD;
		nargs = nargs * 10 + (c - '0');
	}
	if (k < 2 || b[k + 1] != '\n' || !nargs || nargs > REDIS_AGG_MAX_ARGS)
		return NETOBSERVER_AGG_FB_HEAD;
	x->n = n;
	x->off = k + 2;
	x->left = nargs;
	x->verdict = NETOBSERVER_AGG_FB_HEAD;
	bpf_loop(REDIS_AGG_MAX_ARGS, redis_walk_arg, &wc, 0);
	if (x->verdict != AGG_OK || x->left)
		return NETOBSERVER_AGG_FB_HEAD;
	/* A second command (pipelining) or anything else after the first. */
	if (x->off < w->total)
		return NETOBSERVER_AGG_FB_EXTRA;
	/* A last value past the head but within the syscall: its end must be "\r\n", as parser/redis
	 * checks it when the bytes are there. */
	if (x->off > n && x->off == w->total) {
		u8 crlf[2];

		if (bpf_probe_read_user(crlf, sizeof(crlf), (void *)(w->head + x->off - 2)) || crlf[0] != '\r' ||
		    crlf[1] != '\n')
			return NETOBSERVER_AGG_FB_HEAD;
	}

	__builtin_memset(a->key.host, 0, sizeof(a->key.host) + sizeof(a->key.path));
	if (x->name_len > NETOBSERVER_AGG_PATH_MAX)
		return NETOBSERVER_AGG_FB_LONG;
	/* The name is within the head's first 80 bytes ("*255\r\n$64\r\n"); the subcommand within
	 * its first 160. */
	if (x->name > 16 || x->name + x->name_len > n)
		return NETOBSERVER_AGG_FB_HEAD;
	if (!REDIS_WORD(a->key.path, b + (x->name & 0x1f), x->name_len, NETOBSERVER_AGG_PATH_MAX))
		return NETOBSERVER_AGG_FB_HEAD;
	w0 = *(u64 *)a->key.path;
	w1 = *(u64 *)(a->key.path + 8);
	if (redis_pushy(w0, w1))
		return NETOBSERVER_AGG_FB_PUSH;
	/* parser/redis reads a subcommand of at most 32 bytes, and keeps it only if it knows it. */
	if (nargs > 1 && x->name_len <= 8 && x->sub_len <= NETOBSERVER_AGG_HOST_MAX && redis_container(w0)) {
		if (x->sub > 128 || x->sub + x->sub_len > n)
			return NETOBSERVER_AGG_FB_HEAD;
		if (!REDIS_WORD(a->key.host, b + (x->sub & 0xff), x->sub_len, NETOBSERVER_AGG_HOST_MAX))
			return NETOBSERVER_AGG_FB_HEAD;
	}
	a->key.role = s->ev.attr.role;
	a->key.protocol = ProtoRedis;
	a->key.status = 0;
	a->key.method = 0;
	a->key.version = 0;
	/* Today this syscall is one event with all its bytes: kept whole when the head holds it
	 * (msg_buf_size 0: not kept, it cannot be exported at a fallback). */
	a->attr = s->ev.attr;
	a->attr.org_msg_size = w->total;
	a->attr.msg_buf_size = w->total <= n ? w->total : 0;
	a->req_ts = s->ev.attr.ts;
	a->req_bytes = w->total;
	a->body_left = x->off - w->total;
	a->state = AGG_PENDING;
	return AGG_OK;
}

/* The state machine of an aggregated Redis connection, as http_agg_body's: a request (one RESP
 * command), then its reply, whose first byte says whether it is an error and whose first bytes
 * say its length when they can. A request is a new call only once that length is known and all
 * of it came: a client writes its next command before reading a reply whole (async clients),
 * and that reply's rest is no reply of the next call (NETOBSERVER_AGG_FB_REPLY_END). */
static __always_inline int redis_agg_body(void *ctx, void *tmap)
{
	struct scratch *s = scratch();
	struct agg_entry *e;
	struct agg_conn *a;
	struct work *w;
	bool lost = false;
	u32 reason;
	u8 t;

	if (!s)
		return 0;
	w = &s->w;
	a = agg_conn_of(s, w);
	reason = NETOBSERVER_AGG_FB_FULL;
	if (!a)
		goto fallback;
	if (s->ev.attr.type == TypeRequest) {
		if (a->state == AGG_PENDING) {
			if (agg_request_body(a, w))
				return 0;
			reason = NETOBSERVER_AGG_FB_PIPELINED;
			lost = true;
			goto fallback;
		}
		reason = NETOBSERVER_AGG_FB_REPLY_END;
		if (a->state == AGG_RESPONDING && (!a->resp_known || a->resp_left))
			goto fallback;
		reason = redis_request(s, w, a);
		if (reason == AGG_OK)
			return 0;
		goto fallback;
	}
	if (a->state != AGG_RESPONDING) {
		reason = NETOBSERVER_AGG_FB_UNSOLICITED;
		if (a->state != AGG_PENDING)
			goto fallback;
		lost = true;
		reason = NETOBSERVER_AGG_FB_EARLY;
		if (a->body_left)
			goto fallback;
		/* The reply's type: a push, or an attribute before the reply, is not aggregated. */
		reason = NETOBSERVER_AGG_FB_STATUS;
		if (!w->head_len || bpf_probe_read_user(&t, 1, (void *)w->head))
			goto fallback;
		switch (t) {
		case '+': case '-': case ':': case '$': case '*': case '_': case ',': case '#': case '!':
		case '=': case '(': case '%': case '~':
			break;
		case '>':
			reason = NETOBSERVER_AGG_FB_PUSH;
			goto fallback;
		default:
			goto fallback;
		}
		a->key.status = t;
	}
	e = agg_entry(s, a);
	reason = NETOBSERVER_AGG_FB_FULL;
	if (!e)
		goto fallback;
	if (a->state == AGG_RESPONDING) {
		redis_reply_bytes(a, w->total);
		__sync_fetch_and_add(&e->v.resp_bytes, w->total);
		return 0;
	}
	/* The request's kept head is no longer needed for an export: the reply's is read there. */
	a->resp_left = redis_reply_length(w, a, t);
	a->resp_known = a->resp_left != 0;
	redis_reply_bytes(a, w->total);
	a->state = AGG_RESPONDING;
	agg_count_call(&e->v, a, s->ev.attr.ts, w->total);
	return 0;

fallback:
	/* A pending request goes out as the event today's capture would have sent, before this
	 * syscall's, if its one syscall was kept whole; else it is lost, counted. */
	agg_fall_back(ctx, w, a, reason, lost,
		      lost && a->req_bytes == a->attr.org_msg_size && a->attr.msg_buf_size == a->attr.org_msg_size);
	if (w->kind == K_NONE)
		return 0;
	emit_data(ctx, s, w, tmap, true);
	return 0;
}

/* memcached's line scan reads this much of a syscall's first buffer: a key is at most 250 bytes. */
#define MEMC_SCAN_MAX 512

/* Opaque to the compiler, like bound_payload: [1, MEMC_SCAN_MAX] for an input in that range. */
static __always_inline u64 bound_memc(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0x1ff\n\t%0 += 1" : "+r"(n));
	return n;
}

/* The token of a memcached text line that gives the size of the data block after it, by the
 * line's first word: storage commands (set … <bytes>, cas … <bytes> <cas>), meta set (ms <key>
 * <datalen>), a text hit (VALUE <key> <flags> <bytes>) and a meta hit (VA <size>). 0: no block. */
static __always_inline u32 memc_size_token(const u8 *b)
{
	u32 w4 = (u32)b[0] | (u32)b[1] << 8 | (u32)b[2] << 16 | (u32)b[3] << 24;

	if (w4 == 0x20746573 || w4 == 0x20646461 || w4 == 0x20736163) /* "set ", "add ", "cas " */
		return 4;
	if ((w4 == 0x6c706572 && b[4] == 'a' && b[5] == 'c' && b[6] == 'e' && b[7] == ' ') || /* "replace " */
	    (w4 == 0x65707061 && b[4] == 'n' && b[5] == 'd' && b[6] == ' ') ||                /* "append " */
	    (w4 == 0x70657270 && b[4] == 'e' && b[5] == 'n' && b[6] == 'd' && b[7] == ' '))   /* "prepend " */
		return 4;
	if (w4 == 0x554c4156 && b[4] == 'E' && b[5] == ' ') /* "VALUE " */
		return 3;
	if (b[0] == 'm' && b[1] == 's' && b[2] == ' ')
		return 2;
	if (b[0] == 'V' && b[1] == 'A' && b[2] == ' ')
		return 1;
	return 0;
}

/* A memcached syscall that starts with a message carrying a data block (tp_btf set only): a value
 * of a storage command or a hit, text or meta (the line names its size), or the value of a binary
 * message (after the header, extras and key). When the block ends within the syscall its bytes go
 * out as sizes: the chunks carry the bytes around it (emit_data, gather) and the consumer fills
 * the block with zeros (parser.StreamHints.FillTruncated) — the parser never reads values, and the
 * rings carry the few bytes of each command instead of kilobytes. Blocks that run past the
 * syscall, and every block but the first of a syscall, are exported whole, as before. */
static __always_inline int memc_head_body(void *ctx, void *tmap)
{
	struct scratch *s = scratch();
	struct work *w;
	u64 n, from = 0, to = 0, size = 0;
	u8 *b;

	if (!s)
		return 0;
	w = &s->w;
	n = bound_memc(w->head_len < MEMC_SCAN_MAX ? w->head_len : MEMC_SCAN_MAX);
	if (n < 8 || bpf_probe_read_user(s->ev.msg, n, (void *)w->head))
		goto emit;
	w->copied = n;
	b = (u8 *)s->ev.msg;
	if ((b[0] == 0x80 || b[0] == 0x81) && n >= 24) {
		u64 keylen = (u64)b[2] << 8 | b[3], body = (u64)b[8] << 24 | (u64)b[9] << 16 | (u64)b[10] << 8 | b[11];

		if (b[5] == 0 && keylen + b[4] < body) {
			from = w->start + 24 + keylen + b[4];
			to = w->start + 24 + body;
		}
		goto cut;
	}
	w->scan_want = memc_size_token(b);
	if (!w->scan_want)
		goto emit;
	/* Shaped like the HTTP scan: state in memory so that the walk does not fork per byte; a
	 * sentinel newline right after the n bytes stops it there (refused below). Tokens start after
	 * a run of blanks, as memcached and the parser split them. */
	b[n] = '\n';
	b[n + 1] = 0;
	w->scan_lend = 0;
	w->scan_tokpos = 0;
	w->scan_tokens = 0;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MEMC_SCAN_MAX; i++) {
		u64 ch = b[i];

		asm goto("if %[ch] <= 32 goto %l[blank]" : : [ch] "r"(ch) : : blank);
		continue;
blank:
		if (ch == '\n') {
			w->scan_lend = i + 1;
			break;
		}
		if (ch == ' ' && b[i + 1] != ' ' && ++*(volatile u32 *)&w->scan_tokens == w->scan_want)
			*(volatile u64 *)&w->scan_tokpos = i + 1;
	}
	if (!w->scan_lend || w->scan_lend > n || !w->scan_tokpos || w->scan_tokpos >= w->scan_lend)
		goto emit;
	/* The size: 1 to 10 digits (memcached's items are at most 1 GiB), then a blank or the end. */
	{
		const u8 *v = b + (w->scan_tokpos & (MEMC_SCAN_MAX - 1));
		u32 digits = 0;

#pragma unroll
		for (int d = 0; d < 11; d++) {
			u8 c = v[d];

			if (c < '0' || c > '9')
				break;
			size = size * 10 + (c - '0');
			digits++;
		}
		if (!digits || digits > 10 || (v[digits] != ' ' && v[digits] != '\r' && v[digits] != '\n'))
			goto emit;
	}
	if (size) {
		from = w->start + w->scan_lend;
		to = from + size;
	}
cut:
	if (from < to && to <= w->start + w->total) {
		w->cut_from = from;
		w->cut_to = to;
	}
	/* A block that ends before a plain syscall of one chunk does: the bytes up to the block's end
	 * and those after it go out as two events, each placed by its own pos as a syscall of its own
	 * (an iovec syscall's chunks are placed one after the other: gather() cuts them). */
	if (w->kind == K_BUF && w->cut_from < w->cut_to && w->cut_to < w->start + w->total &&
	    w->total <= CONN_DATA_MAX_SIZE) {
		u64 end = w->start + w->total, head = w->cut_to - w->start;

		s->ev.attr.pos = w->cut_to;
		emit_chunk(ctx, s, w->first, head, keep(w, w->start, head), false, true);
		s->ev.attr.pos = end;
		emit_chunk(ctx, s, w->first + head, w->total - head, w->total - head, true, true);
		return 0;
	}
emit:
	emit_data(ctx, s, w, tmap, true);
	return 0;
}

/* sendmmsg/recvmmsg: the syscall returns messages, the bytes are in each msg_len. Counted in steps
 * of MSGS_PER_STEP messages so the byte total (stats, pos) is known before any data event. */
static __always_inline int mmsg_count_body(void *ctx, void *tmap)
{
	struct scratch *s = scratch();
	struct work *w;

	if (!s)
		return 0;
	w = &s->w;
#pragma unroll
	for (int k = 0; k < MSGS_PER_STEP; k++) {
		u32 len = 0;

		if (w->idx >= w->vec_cnt)
			break;
		bpf_probe_read_user(&len, sizeof(len),
				    (void *)(w->vec + (u64)w->idx * sizeof(struct user_mmsghdr) +
					     __builtin_offsetof(struct user_mmsghdr, len)));
		w->total += len;
		w->idx++;
	}
	if (w->idx < w->vec_cnt)
		bpf_tail_call(ctx, tmap, TAIL_MMSG_COUNT);
	bpf_tail_call(ctx, tmap, TAIL_DATA_MAIN);
	return 0;
}

/* The tail-call targets of one hook set; sec is a section of the hook set's program type, rb its
 * transport. */
#define TAIL_PROGS(sec, suffix, tmap, rb)                       \
	SEC(sec)                                                \
	int data_main##suffix(void *ctx)                        \
	{                                                       \
		return data_main_body(ctx, &tmap, rb);          \
	}                                                       \
	SEC(sec)                                                \
	int emit_segments##suffix(void *ctx)                    \
	{                                                       \
		return emit_segments_body(ctx, &tmap, rb);      \
	}                                                       \
	SEC(sec)                                                \
	int mmsg_count##suffix(void *ctx)                       \
	{                                                       \
		return mmsg_count_body(ctx, &tmap);             \
	}

TAIL_PROGS("tracepoint", , tails, false)
TAIL_PROGS("raw_tp", _raw, tails_raw, false)
/* A tp_btf program array also pins the attach point: the targets name the exit program's. */
TAIL_PROGS("tp_btf/sys_exit", _btf, tails_btf, true)

SEC("tp_btf/sys_exit")
int http_head_btf(void *ctx)
{
	return http_head_body(ctx, &tails_btf, false);
}

/* The same with the scan on bpf_loop (5.17+); the loader loads one of the two. */
SEC("tp_btf/sys_exit")
int http_loop_btf(void *ctx)
{
	return http_head_body(ctx, &tails_btf, true);
}

SEC("tp_btf/sys_exit")
int http_agg_btf(void *ctx)
{
	return http_agg_body(ctx, &tails_btf);
}

SEC("tp_btf/sys_exit")
int redis_agg_btf(void *ctx)
{
	return redis_agg_body(ctx, &tails_btf);
}

SEC("tp_btf/sys_exit")
int memc_head_btf(void *ctx)
{
	return memc_head_body(ctx, &tails_btf);
}

/* ---- syscall exits, shared by the three hook sets --------------------------------------------- */

/* Each takes the syscall's arguments (read at exit by the raw sets, saved at entry by the
 * tracepoint set), its return value and the hook set's tail-call table. */
static __always_inline int exit_buf(void *ctx, long ret, struct args *a, u32 dir, u64 room, void *tmap)
{
	struct work *w;

	if (ret <= 0)
		return 0;
	w = begin_work(a, K_BUF, dir, ret);
	if (!w)
		return 0;
	w->filled = (u64)ret >= room;
	w->first = a->p1;
	w->first_len = ret;
	w->head = a->p1;
	w->head_len = ret;
	if (a->p2) {
		s32 alen = (s32)a->p3;
		if (a->func == FuncRecvFrom) {
			alen = 0;
			bpf_probe_read_user(&alen, sizeof(alen), (void *)a->p3);
		}
		if (alen > 0)
			w->has_addr = read_user_addr(&w->addr, a->p2);
	}
	bpf_tail_call(ctx, tmap, TAIL_DATA_MAIN);
	return 0;
}

/* First segment of an iovec array, for protocol detection; of an array of cnt >= 2 the second too,
 * read with it for the segment walk (a probe read costs ≈ 100 ns here, whatever its size). */
static __always_inline void first_segments(struct work *w, u64 iov, u64 cnt, u64 limit)
{
	struct user_iovec v[2];

	w->filled = 1;
	if (cnt >= 2 && !bpf_probe_read_user(v, sizeof(v), (void *)iov)) {
		w->second = v[1];
		w->has_second = 1;
		w->filled = cnt > 2 || limit >= v[0].len + v[1].len;
	} else if (bpf_probe_read_user(v, sizeof(v[0]), (void *)iov)) {
		return;
	} else {
		w->filled = limit >= v[0].len;
	}
	w->first = v[0].base;
	w->first_len = v[0].len < limit ? v[0].len : limit;
	w->head = w->first;
	w->head_len = w->first_len;
	/* Erlang's writev (RabbitMQ) starts every call with an empty segment: detection and the gate
	 * of data_main look at the next one, the walk still starts at the first. */
	if (!w->first_len && w->has_second && limit) {
		w->head = w->second.base;
		w->head_len = w->second.len < limit ? w->second.len : limit;
	}
}

static __always_inline int exit_iov(void *ctx, long ret, struct args *a, u32 dir, void *tmap)
{
	struct work *w;

	if (ret <= 0)
		return 0;
	w = begin_work(a, K_IOV, dir, ret);
	if (!w)
		return 0;
	w->vec = a->p1;
	w->vec_cnt = a->p2;
	first_segments(w, a->p1, a->p2, ret);
	bpf_tail_call(ctx, tmap, TAIL_DATA_MAIN);
	return 0;
}

static __always_inline int exit_msg(void *ctx, long ret, struct args *a, u32 dir, void *tmap)
{
	struct user_msghdr m;
	struct work *w;

	if (ret <= 0)
		return 0;
	w = begin_work(a, K_IOV, dir, ret);
	if (!w || bpf_probe_read_user(&m, sizeof(m), (void *)a->p1))
		return 0;
	w->vec = m.iov;
	w->vec_cnt = m.iovlen;
	first_segments(w, m.iov, m.iovlen, ret);
	if (m.name && m.namelen > 0)
		w->has_addr = read_user_addr(&w->addr, m.name);
	bpf_tail_call(ctx, tmap, TAIL_DATA_MAIN);
	return 0;
}

static __always_inline int exit_mmsg(void *ctx, long ret, struct args *a, u32 dir, void *tmap)
{
	struct user_mmsghdr m;
	struct work *w;

	if (ret <= 0)
		return 0;
	w = begin_work(a, K_MMSG, dir, 0);
	if (!w || bpf_probe_read_user(&m, sizeof(m), (void *)a->p1))
		return 0;
	w->vec = a->p1;
	w->vec_cnt = ret;
	w->idx = 0;
	first_segments(w, m.hdr.iov, 1, m.len);
	w->filled = 1;
	if (m.hdr.name && m.hdr.namelen > 0)
		w->has_addr = read_user_addr(&w->addr, m.hdr.name);
	bpf_tail_call(ctx, tmap, TAIL_MMSG_COUNT);
	return 0;
}

/* sendfile moves bytes the program cannot see; they count for the L4 stats (and leave a gap in the
 * egress stream position, which is exactly what the consumer must learn). */
static __always_inline int exit_sendfile(void *ctx, long ret, struct args *a, void *tmap)
{
	if (ret <= 0 || !begin_work(a, K_NONE, DirEgress, ret))
		return 0;
	bpf_tail_call(ctx, tmap, TAIL_DATA_MAIN);
	return 0;
}

/* connect and accept entries only save the fd, for the process filters' sake. */
static __always_inline void conn_entry(s32 nr, s32 fd, u32 func)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!tgid_wanted(tgid) || tgid_disabled(tgid))
		return;
	save_args(nr, fd, func, 0, 0, 0);
}

/* A new connection on an fd we still track means its close went unseen (dup2, exec, a missed
 * event): close the old one first so the consumer never merges two connections. */
static __always_inline void replace_stale(void *ctx, u64 key, bool rb)
{
	struct conn *old = bpf_map_lookup_elem(&conn_map, &key);
	if (old)
		close_conn(ctx, key, old, false, rb);
}

static __always_inline int connect_exit(void *ctx, long ret, struct args *args, bool rb)
{
	union sockaddr_t a;
	u8 sock_type = 0;
	u64 file = 0;
	u16 family;
	u64 key;

	if (ret != 0 && ret != -EINPROGRESS)
		return 0;
	/* The kernel socket holds the peer even while a non-blocking connect is in progress; an
	 * AF_UNSPEC connect (UDP disassociation) leaves none and is not a connection. */
	family = fd_peer(args->fd, &a, &sock_type, &file);
	if (!family || family == AF_UNKNOWN)
		return 0;
	key = conn_key(bpf_get_current_pid_tgid() >> 32, args->fd);
	replace_stale(ctx, key, rb);
	track(ctx, key, &a, IsClient, sock_type, file, true, rb);
	return 0;
}

/* The peer comes from the new socket itself, so accept(fd, NULL, NULL) works too. */
static __always_inline int accept_exit(void *ctx, long ret, bool rb)
{
	union sockaddr_t a;
	u8 sock_type = 0;
	u64 file = 0;
	u64 key;

	if (ret < 0 || !fd_peer(ret, &a, &sock_type, &file))
		return 0;
	key = conn_key(bpf_get_current_pid_tgid() >> 32, ret);
	replace_stale(ctx, key, rb);
	track(ctx, key, &a, IsServer, sock_type, file, true, rb);
	return 0;
}

/* close() releases the fd even when it fails: the tracepoint set acts at the entry. */
static __always_inline int close_entry(void *ctx, s32 fd)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u64 key = conn_key(tgid, fd);
	struct conn *c = bpf_map_lookup_elem(&conn_map, &key);

	if (!c)
		return 0;
	/* Forgotten in any case; announced only if the process is still of interest. */
	close_conn(ctx, key, c, !tgid_wanted(tgid) || tgid_disabled(tgid), false);
	return 0;
}

/* ---- hook set 1 and 2: the raw syscall tracepoints (tp_btf, raw_tp) -------------------------- */

/* x86-64 syscall numbers (the programs are x86-64 only, like the uprobe register layout). */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_accept4 288
#define NR_recvmmsg 299
#define NR_sendmmsg 307

/* Syscall argument i: a direct BTF load (tp_btf) or a CO-RE probe read (raw_tp). */
static __always_inline u64 sysarg(struct pt_regs___k *regs, int i, bool direct)
{
	if (direct) {
		switch (i) {
		case 0: return regs->di;
		case 1: return regs->si;
		case 2: return regs->dx;
		case 3: return regs->r10;
		case 4: return regs->r8;
		default: return regs->r9;
		}
	}
	switch (i) {
	case 0: return BPF_CORE_READ(regs, di);
	case 1: return BPF_CORE_READ(regs, si);
	case 2: return BPF_CORE_READ(regs, dx);
	case 3: return BPF_CORE_READ(regs, r10);
	case 4: return BPF_CORE_READ(regs, r8);
	default: return BPF_CORE_READ(regs, r9);
	}
}

/* The raw sets have no entry program: a raw sys_enter program would run for every syscall of the
 * host, followed or not, and its dispatch alone (≈ 65 ns here) cost more than everything it did.
 * On x86-64 the argument registers saved at syscall entry are intact in pt_regs at sys_exit (a
 * syscall only writes ax; signal frames and ptrace's exit stop come after the tracepoint), so the
 * exit reads the arguments itself, after the syscall has filled the buffers it reports. */

/* Data syscalls: the socket test, the filters, then the arguments for the exit_* helpers. */
static __always_inline int data_exit(void *ctx, struct pt_regs___k *regs, s32 nr, long ret, bool direct,
				     bool fast, void *tmap)
{
	struct args a;
	u64 room;
	u32 tgid;

	if (ret <= 0)
		return 0;
	a.fd = sysarg(regs, 0, direct);
	if (!fd_is_socket(a.fd, fast) || compat_syscall(fast))
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!tgid_wanted(tgid) || tgid_disabled(tgid))
		return 0;
	a.p1 = sysarg(regs, 1, direct);
	a.p2 = 0;
	a.p3 = 0;
	/* read's and recvfrom's count, for kernel aggregation (the tp_btf set only): a register. */
	room = direct ? sysarg(regs, 2, direct) : 0;
	switch (nr) {
	case NR_read:
		a.func = FuncRead;
		return exit_buf(ctx, ret, &a, DirIngress, room, tmap);
	case NR_write:
		a.func = FuncWrite;
		return exit_buf(ctx, ret, &a, DirEgress, 0, tmap);
	case NR_recvfrom:
	case NR_sendto:
		/* A peek (curl's liveness check reads 1 byte so) is read again: exported, it would
		 * put its bytes in the stream twice. */
		if (nr == NR_recvfrom && (sysarg(regs, 3, direct) & MSG_PEEK))
			return 0;
		a.p2 = sysarg(regs, 4, direct);
		a.p3 = sysarg(regs, 5, direct);
		if (nr == NR_sendto) {
			a.func = a.p2 ? FuncSendTo : FuncSend;
			return exit_buf(ctx, ret, &a, DirEgress, 0, tmap);
		}
		a.func = a.p2 ? FuncRecvFrom : FuncRecv;
		return exit_buf(ctx, ret, &a, DirIngress, room, tmap);
	case NR_readv:
	case NR_writev:
		a.p2 = sysarg(regs, 2, direct);
		a.func = nr == NR_readv ? FuncReadV : FuncWriteV;
		return exit_iov(ctx, ret, &a, nr == NR_readv ? DirIngress : DirEgress, tmap);
	case NR_recvmsg:
		if (sysarg(regs, 2, direct) & MSG_PEEK)
			return 0;
		a.func = FuncRecvMsg;
		return exit_msg(ctx, ret, &a, DirIngress, tmap);
	case NR_sendmsg:
		a.func = FuncSendMsg;
		return exit_msg(ctx, ret, &a, DirEgress, tmap);
	case NR_recvmmsg:
		a.func = FuncRecvMmsg;
		return exit_mmsg(ctx, ret, &a, DirIngress, tmap);
	case NR_sendmmsg:
		a.func = FuncSendMmsg;
		return exit_mmsg(ctx, ret, &a, DirEgress, tmap);
	default: /* sendfile */
		a.func = FuncUnknown;
		return exit_sendfile(ctx, ret, &a, tmap);
	}
}

/* connect, accept, accept4: the filters, then the connection from the kernel socket. */
static __always_inline int conn_exit(void *ctx, struct pt_regs___k *regs, s32 nr, long ret, bool direct, bool fast)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct args a;

	if (compat_syscall(fast) || !tgid_wanted(tgid) || tgid_disabled(tgid))
		return 0;
	if (nr != NR_connect)
		return accept_exit(ctx, ret, direct);
	a.fd = sysarg(regs, 0, direct);
	return connect_exit(ctx, ret, &a, direct);
}

/* close() has released the fd by its exit, even when it failed. If another thread already reused
 * the number for a socket it then tracked, the entry belongs to that new connection (its file is
 * the one in the fd slot now) and stays. */
static __always_inline int close_exit(void *ctx, s32 fd, bool fast, bool rb)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u64 key = conn_key(tgid, fd);
	struct conn *c = bpf_map_lookup_elem(&conn_map, &key);

	if (!c || compat_syscall(fast))
		return 0;
	if (c->file && c->file == (u64)fd_file(fd))
		return 0;
	/* Forgotten in any case; announced only if the process is still of interest. */
	close_conn(ctx, key, c, !tgid_wanted(tgid) || tgid_disabled(tgid), rb);
	return 0;
}

/* sys_exit runs for every syscall: anything but the 15 we follow returns after a few compares.
 * direct: the tp_btf set (typed register loads, ring buffer transport); fast: the BTF socket test. */
static __always_inline int hook_exit(void *ctx, struct pt_regs___k *regs, long ret, bool direct, bool fast,
				     void *tmap)
{
	s32 nr = direct ? regs->orig_ax : BPF_CORE_READ(regs, orig_ax);

	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_readv:
	case NR_writev:
	case NR_sendfile:
	case NR_sendto:
	case NR_recvfrom:
	case NR_sendmsg:
	case NR_recvmsg:
	case NR_recvmmsg:
	case NR_sendmmsg:
		return data_exit(ctx, regs, nr, ret, direct, fast, tmap);
	case NR_connect:
	case NR_accept:
	case NR_accept4:
		return conn_exit(ctx, regs, nr, ret, direct, fast);
	case NR_close:
		return close_exit(ctx, sysarg(regs, 0, direct), fast, direct);
	default:
		return 0;
	}
}

/* tp_btf (5.5+): typed arguments, the registers read with plain loads. Two builds, for the two
 * socket tests; the loader loads one. */
SEC("tp_btf/sys_exit")
int btf_sys_exit(u64 *ctx)
{
	return hook_exit(ctx, (struct pt_regs___k *)ctx[0], (long)ctx[1], true, FAST_SOCKET_TEST, &tails_btf);
}

SEC("tp_btf/sys_exit")
int btf_sys_exit_portable(u64 *ctx)
{
	return hook_exit(ctx, (struct pt_regs___k *)ctx[0], (long)ctx[1], true, false, &tails_btf);
}

/* raw_tp (4.17+): the same program with the registers read through CO-RE probe reads. */
SEC("raw_tp/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return hook_exit(ctx, (struct pt_regs___k *)ctx->args[0], (long)ctx->args[1], false, false, &tails_raw);
}

/* ---- hook set 3: the per-syscall tracepoints (syscalls:sys_enter_X / sys_exit_X) -------------- */

#define EXIT(tp, call)                                  \
	SEC("tracepoint/syscalls/sys_exit_" #tp)        \
	int exit_##tp(struct sys_exit_ctx *ctx)         \
	{                                               \
		struct args a;                          \
		if (!take_args(ctx->nr, &a))            \
			return 0;                       \
		return call;                            \
	}

ENTER_DATA(read, FuncRead, ctx->args[1], 0, 0)
EXIT(read, exit_buf(ctx, ctx->ret, &a, DirIngress, 0, &tails))
ENTER_DATA(write, FuncWrite, ctx->args[1], 0, 0)
EXIT(write, exit_buf(ctx, ctx->ret, &a, DirEgress, 0, &tails))
ENTER_RECV(recvfrom, 3, ctx->args[4] ? FuncRecvFrom : FuncRecv, ctx->args[1], ctx->args[4], ctx->args[5])
EXIT(recvfrom, exit_buf(ctx, ctx->ret, &a, DirIngress, 0, &tails))
ENTER_DATA(sendto, ctx->args[4] ? FuncSendTo : FuncSend, ctx->args[1], ctx->args[4], ctx->args[5])
EXIT(sendto, exit_buf(ctx, ctx->ret, &a, DirEgress, 0, &tails))
ENTER_DATA(readv, FuncReadV, ctx->args[1], ctx->args[2], 0)
EXIT(readv, exit_iov(ctx, ctx->ret, &a, DirIngress, &tails))
ENTER_DATA(writev, FuncWriteV, ctx->args[1], ctx->args[2], 0)
EXIT(writev, exit_iov(ctx, ctx->ret, &a, DirEgress, &tails))
ENTER_RECV(recvmsg, 2, FuncRecvMsg, ctx->args[1], 0, 0)
EXIT(recvmsg, exit_msg(ctx, ctx->ret, &a, DirIngress, &tails))
ENTER_DATA(sendmsg, FuncSendMsg, ctx->args[1], 0, 0)
EXIT(sendmsg, exit_msg(ctx, ctx->ret, &a, DirEgress, &tails))
ENTER_DATA(recvmmsg, FuncRecvMmsg, ctx->args[1], 0, 0)
EXIT(recvmmsg, exit_mmsg(ctx, ctx->ret, &a, DirIngress, &tails))
ENTER_DATA(sendmmsg, FuncSendMmsg, ctx->args[1], 0, 0)
EXIT(sendmmsg, exit_mmsg(ctx, ctx->ret, &a, DirEgress, &tails))
ENTER_DATA(sendfile64, FuncUnknown, 0, 0, 0)
EXIT(sendfile64, exit_sendfile(ctx, ctx->ret, &a, &tails))

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct sys_enter_ctx *ctx)
{
	conn_entry(ctx->nr, ctx->args[0], FuncUnknown);
	return 0;
}

EXIT(connect, connect_exit(ctx, ctx->ret, &a, false))

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct sys_enter_ctx *ctx)
{
	conn_entry(ctx->nr, ctx->args[0], FuncAccept);
	return 0;
}

EXIT(accept, accept_exit(ctx, ctx->ret, false))

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct sys_enter_ctx *ctx)
{
	conn_entry(ctx->nr, ctx->args[0], FuncAccept4);
	return 0;
}

EXIT(accept4, accept_exit(ctx, ctx->ret, false))

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct sys_enter_ctx *ctx)
{
	return close_entry(ctx, ctx->args[0]);
}

/* ---- the control channel: uprobes on the library's own stubs ------------------------------- */

static __always_inline u64 id_key(const struct connect_id_t *id)
{
	return conn_key(id->tgid, id->fd);
}

SEC("uprobe")
int up_cleanup_dog(struct pt_regs *regs)
{
	u64 ids = regs->di;
	s32 n = (s32)regs->si;
	u32 unanswered = 0, unanswered_redis = 0;

#pragma unroll
	for (int i = 0; i < IDS_PER_CLEANUP; i++) {
		struct connect_id_t id;
		struct conn *c;
		u64 key;

		if (i >= n)
			break;
		if (bpf_probe_read_user(&id, sizeof(id), (void *)(ids + (u64)i * sizeof(id))))
			break;
		key = id_key(&id);
		c = bpf_map_lookup_elem(&conn_map, &key);
		if (c && c->id.tgid == id.tgid) {
			/* A connection whose close was never seen: its aggregation state goes with it
			 * (the map is not LRU: a full one is a counted fallback, not an eviction). */
			if (c->agg == AGG_CONN_ON) {
				u32 pending = agg_conn_end(key);

				unanswered += pending == ProtoHTTP;
				unanswered_redis += pending == ProtoRedis;
			}
			bpf_map_delete_elem(&conn_map, &key);
		}
	}
	/* Unconditional: a branch on the sum would make the verifier tell every path's apart. */
	agg_add(NETOBSERVER_AGG_UNANSWERED, unanswered);
	agg_add(NETOBSERVER_AGG_UNANSWERED_REDIS, unanswered_redis);
	return 0;
}

static __always_inline int update_conn_addr(struct pt_regs *regs, bool rb)
{
	struct netobserver_config *cfg = config();
	struct connect_id_t id;
	union sockaddr_t a;
	bool drop = (u8)regs->cx != 0;
	struct conn *c;
	u64 key;

	if (!cfg || bpf_probe_read_user(&id, sizeof(id), (void *)regs->di) ||
	    bpf_probe_read_user(&a, sizeof(a), (void *)regs->si))
		return 0;
	key = id_key(&id);
	c = bpf_map_lookup_elem(&conn_map, &key);
	if (c) {
		/* An id from before an fd reuse must not touch the connection now on that fd. */
		if (id.start && c->id.start != id.start)
			return 0;
		c->addr = a;
		c->sampled = !drop;
		return 0;
	}
	{
		struct conn n;

		__builtin_memset(&n, 0, sizeof(n));
		n.id = id;
		if (!n.id.start)
			n.id.start = bpf_ktime_get_ns();
		n.addr = a;
		n.role = IsUnknown;
		n.sampled = !drop;
		if (bpf_map_update_elem(&conn_map, &key, &n, BPF_NOEXIST))
			return 0;
		if (n.sampled && !(cfg->self_pid > 0 && (u32)cfg->self_pid == id.tgid))
			emit_connect(regs, &n, rb);
	}
	return 0;
}

/* Two builds, one per transport (it emits EventConnect); the loader loads the one of its hook set. */
SEC("uprobe")
int up_update_conn_addr(struct pt_regs *regs)
{
	return update_conn_addr(regs, false);
}

SEC("uprobe")
int up_update_conn_addr_rb(struct pt_regs *regs)
{
	return update_conn_addr(regs, true);
}

SEC("uprobe")
int up_disable_process(struct pt_regs *regs)
{
	struct netobserver_config *cfg = config();
	struct state *st = state();
	u32 pid = (u32)regs->di;
	bool drop = (u8)regs->si != 0;
	u8 one = 1;

	if (!cfg || !st || !pid)
		return 0;
	if (!drop) {
		if (!bpf_map_update_elem(&disabled_map, &pid, &one, BPF_NOEXIST))
			__sync_fetch_and_add(&st->ndisabled, 1);
	} else if (cfg->tgid_filter <= 0) {
		if (!bpf_map_delete_elem(&disabled_map, &pid))
			__sync_fetch_and_add(&st->ndisabled, -1);
	}
	return 0;
}

SEC("uprobe")
int up_update_conn_role(struct pt_regs *regs)
{
	struct connect_id_t id;
	u32 role = (u32)regs->si;
	struct conn *c;
	u64 key;

	if (bpf_probe_read_user(&id, sizeof(id), (void *)regs->di))
		return 0;
	if (role != IsUnknown && role != IsClient && role != IsServer)
		return 0;
	key = id_key(&id);
	c = bpf_map_lookup_elem(&conn_map, &key);
	if (c && (!id.start || c->id.start == id.start))
		c->role = role;
	return 0;
}

/* ---- TLS plaintext: uprobes on TLS libraries (netobserver's optional extension) ---------------
 *
 * A TLS connection's socket carries ciphertext. Once the syscall path has seen a ClientHello or
 * ServerHello on it (tls_hello) or a TLS library's probe has reported plaintext for it, the socket
 * bytes count only for the L4 statistics, and the plaintext the library hands over becomes the
 * connection's data events, with stream positions of its own (tls_wr_pos, tls_rd_pos). The programs
 * are uprobes (kprobe type): they cannot tail-call the syscall sets' programs. Every return probe
 * only finds its call's (tgid, fd, direction, buffer, length) and tail-calls, through their own table
 * (tails_tls), the one plaintext program of the set's transport (plaintext_tls / plaintext_tls_rb),
 * which does data_main's work; the HTTP header scan is a tail call of the same table (ring buffer
 * build only, as for the syscall path). Why not inline: inline, the plaintext work cost the verifier
 * 44 000 to 304 000 instructions in each of the five return probes (four OpenSSL returns and Go's),
 * at every start and in both transports' builds; behind a tail call it is walked once, and the
 * return probes need no build per transport. The perf buffer build keeps to the 4.19 rules of this
 * file; the _rb builds need the tp_btf set's 5.8. User space attaches the probes by name at a
 * library's symbols (netobserver_attach_uprobe). */

static __always_inline void tls_count(u32 which)
{
	u64 *n = bpf_map_lookup_elem(&tls_counters, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The plaintext program's body: s->tls.len plaintext bytes at user address s->tls.buf, moved in
 * direction s->tls.dir by the TLS connection on the socket (tgid, fd): data events of that
 * connection, as data_main would send a plain buffer of a socket (chunks of at most
 * CONN_DATA_MAX_SIZE, MAX_BUF_EVENTS of them, the last truncated; HTTP bodies as sizes with rb). A
 * socket tracked only from here (opened before the observer started) is tracked as a first read or
 * write would track it: silently, peer from the kernel socket. The return probes applied the
 * process filters already. */
static __always_inline int plaintext_body(void *ctx, bool rb)
{
	struct netobserver_config *cfg = config();
	struct scratch *s = scratch();
	bool scan = false, lh_pending, egress;
	u32 proto, type = TypeUnknown, tgid, dir;
	u64 key, buf, len, ts, pos;
	struct work *w;
	struct conn *c;
	s32 fd;

	if (!cfg || !s)
		return 0;
	tgid = s->tls.tgid;
	fd = s->tls.fd;
	dir = s->tls.dir;
	buf = s->tls.buf;
	len = s->tls.len;
	ts = s->tls.ts;
	key = conn_key(tgid, fd);
	egress = dir == DirEgress;
	if (!len)
		return 0;
	c = bpf_map_lookup_elem(&conn_map, &key);
	if (!c) {
		union sockaddr_t a;
		u8 sock_type = 0;
		u64 file = 0;

		if (fd < 0 || !fd_peer(fd, &a, &sock_type, &file) ||
		    !(c = track(ctx, key, &a, IsUnknown, sock_type, file, false, rb))) {
			tls_count(TLS_UNATTRIBUTED);
			return 0;
		}
	}
	if (!c->tls) {
		/* Whatever the syscall path made of the ciphertext is void; a role from connect or
		 * accept stays. */
		c->tls = 1;
		c->protocol = ProtoUnknown;
		c->wr_body_end = 0;
		c->rd_body_end = 0;
	}
	if (egress) {
		c->tls_wr_pos += len;
		pos = c->tls_wr_pos;
	} else {
		c->tls_rd_pos += len;
		pos = c->tls_rd_pos;
	}
	if (!c->sampled || !cfg->proto_set || !cfg->proto_mask)
		return 0;

	/* A 4-byte read before the message (MySQL servers read a packet's header, then its body, and
	 * do so through SSL_read too): as on the syscall path, kept for detection and the consumer. */
	lh_pending = !egress && c->lh_pending;
	if (!egress) {
		c->lh_pending = 0;
		if (len == 4) {
			u32 lh = 0;

			bpf_probe_read_user(&lh, 4, (void *)buf);
			c->length_header = lh;
			c->lh_pending = 1;
		}
	}
	proto = c->protocol;
	if (proto == ProtoUnknown || c->role == IsUnknown) {
		u8 head[16] = {};
		u16 tail = 0;

		detect_head(buf, len, head, &tail);
		proto = detect(head, len, tail, c->length_header, lh_pending, 0, c->sock_type == SOCK_DGRAM, pos == len,
			       &type);
		if (c->protocol == ProtoUnknown)
			c->protocol = proto;
		else if (proto != c->protocol)
			type = TypeUnknown;
		proto = c->protocol;
		if (c->role == IsUnknown && type != TypeUnknown)
			c->role = (egress ^ (type == TypeResponse)) ? IsClient : IsServer;
	}
	if (c->role == IsClient)
		type = egress ? TypeRequest : TypeResponse;
	else if (c->role == IsServer)
		type = egress ? TypeResponse : TypeRequest;
	if (!(cfg->tgid_filter > 0 && (u32)cfg->tgid_filter == tgid) &&
	    (proto == ProtoUnknown || !(cfg->proto_mask & (1u << (proto - 1)))))
		return 0;

	w = &s->w;
	w->key = key;
	w->kind = K_BUF;
	w->dir = dir;
	w->func = egress ? FuncWrite : FuncRead;
	w->total = len;
	w->first = buf;
	w->first_len = len;
	w->head = buf;
	w->head_len = len;
	w->events = 0;
	w->gathered = 0;
	w->has_addr = 0;
	w->has_second = 0;
	w->start = pos - len;
	w->cut_from = 0;
	w->cut_to = 0;
	w->copied = 0;
	w->conn_addr = c->addr;
	if (rb && proto == ProtoHTTP) {
		u64 *body_end = egress ? &c->wr_body_end : &c->rd_body_end;
		u8 h[8] = {};

		if (*body_end <= w->start) {
			*body_end = 0;
			scan = true;
		} else if (len >= 8 && !bpf_probe_read_user(h, sizeof(h), (void *)buf) && http_start(h)) {
			*body_end = 0;
			scan = true;
		} else {
			w->cut_from = w->start;
			w->cut_to = *body_end;
		}
	}

	s->ev.attr.ts = ts ? ts : bpf_ktime_get_ns();
	s->ev.attr.conn_id = c->id;
	s->ev.attr.addr = c->addr;
	s->ev.attr.protocol = proto;
	s->ev.attr.role = c->role;
	s->ev.attr.type = type;
	s->ev.attr.direction = dir;
	s->ev.attr.syscall_func = w->func;
	s->ev.attr.pos = pos;
	s->ev.attr.length_header = c->length_header;
	s->ev.attr.try_to_prepend = lh_pending && proto == ProtoKafka;
	if (scan)
		bpf_tail_call(ctx, &tails_tls, TAIL_TLS_HTTP_HEAD);
	emit_buf(ctx, s, w, rb);
	return 0;
}

/* One build per transport; the loader puts the set's in tails_tls. */
SEC("uprobe")
int plaintext_tls(struct pt_regs *regs)
{
	return plaintext_body(regs, false);
}

SEC("uprobe")
int plaintext_tls_rb(struct pt_regs *regs)
{
	return plaintext_body(regs, true);
}

SEC("uprobe")
int http_head_tls_rb(struct pt_regs *regs)
{
	return http_head_body(regs, &tails_tls, false);
}

SEC("uprobe")
int http_loop_tls_rb(struct pt_regs *regs)
{
	return http_head_body(regs, &tails_tls, true);
}

/* A return probe's call: its plaintext goes to the plaintext program. ts: the events' time, 0 for
 * now (tls_plaintext); the Go probes pass a Write's start, because the goroutine may reach the RET
 * after the peer's answer was already read (see the Go section). */
static __always_inline void tls_plaintext_at(void *ctx, u32 tgid, s32 fd, u32 dir, u64 buf, u64 len, u64 ts)
{
	struct scratch *s = scratch();

	if (!s)
		return;
	s->tls.tgid = tgid;
	s->tls.fd = fd;
	s->tls.dir = dir;
	s->tls.buf = buf;
	s->tls.len = len;
	s->tls.ts = ts;
	bpf_tail_call(ctx, &tails_tls, TAIL_TLS_PLAINTEXT);
	/* Only an empty slot gets here; never silently. */
	tls_count(TLS_UNATTRIBUTED);
}

static __always_inline void tls_plaintext(void *ctx, u32 tgid, s32 fd, u32 dir, u64 buf, u64 len)
{
	tls_plaintext_at(ctx, tgid, fd, dir, buf, len, 0);
}

/* OpenSSL (libssl 1.1 and 3.0): SSL_read/SSL_write(ssl, buf, num) return the byte count;
 * SSL_read_ex/SSL_write_ex(ssl, buf, num, size_t *bytes) return 1 and the count in *bytes. One
 * entry program for the four (the fourth argument is kept whatever the function), one per major
 * version for the structure offsets of the fd fallback. */
static __always_inline int openssl_enter(struct pt_regs *regs, u32 lib)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id, slot = tid & (TLS_CALL_SLOTS - 1);
	struct tls_call *t;

	if (!tgid_wanted(id >> 32) || tgid_disabled(id >> 32))
		return 0;
	t = bpf_map_lookup_elem(&tls_calls, &slot);
	if (!t)
		return 0;
	t->ssl = regs->di;
	t->buf = regs->si;
	t->outlen = regs->cx;
	t->fd = -1;
	t->lib = lib;
	t->tid = tid;
	return 0;
}

SEC("uprobe")
int tls_openssl3_enter(struct pt_regs *regs)
{
	return openssl_enter(regs, TLS_LIB_OPENSSL3);
}

SEC("uprobe")
int tls_openssl11_enter(struct pt_regs *regs)
{
	return openssl_enter(regs, TLS_LIB_OPENSSL11);
}

/* OpenSSL's BIO_TYPE_SOCKET: the BIO reads and writes the fd in its num field. */
#define OPENSSL_BIO_TYPE_SOCKET 0x0505

/* The socket of an SSL call: the one a syscall inside the call used (remembered per SSL object for
 * calls served from the library's buffer), else the fd of a socket BIO read from the SSL object:
 * ssl_st.rbio at 0x10 in 1.1.1 and 3.0; bio_st.method at 0x0 (1.1.1) / 0x8 (3.0, after libctx),
 * bio_st.num at 0x30 / 0x38; bio_method_st.type first (bpf/test/ssloffsets.c checks both against
 * the real libraries: the installed libssl3 and Debian 11's libssl1.1). -1: unknown. */
static __always_inline s32 openssl_fd(const struct tls_call *t, u32 tgid)
{
	struct tls_obj o = { .tgid = tgid, .ssl = t->ssl };
	bool v3 = t->lib == TLS_LIB_OPENSSL3;
	s32 *known = bpf_map_lookup_elem(&tls_fds, &o);
	u64 bio = 0, method = 0;
	s32 type = 0, num = -1;

	if (t->fd >= 0) {
		if (!known || *known != t->fd)
			bpf_map_update_elem(&tls_fds, &o, &t->fd, BPF_ANY);
		return t->fd;
	}
	if (known)
		return *known;
	if (bpf_probe_read_user(&bio, sizeof(bio), (void *)(t->ssl + 0x10)) || !bio ||
	    bpf_probe_read_user(&method, sizeof(method), (void *)(bio + (v3 ? 0x8 : 0x0))) || !method ||
	    bpf_probe_read_user(&type, sizeof(type), (void *)method) || type != OPENSSL_BIO_TYPE_SOCKET ||
	    bpf_probe_read_user(&num, sizeof(num), (void *)(bio + (v3 ? 0x38 : 0x30))))
		return -1;
	if (num >= 0)
		bpf_map_update_elem(&tls_fds, &o, &num, BPF_ANY);
	return num;
}

static __always_inline int openssl_ret(struct pt_regs *regs, u32 dir, bool ex)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id, slot = tid & (TLS_CALL_SLOTS - 1);
	s32 ret = (s32)regs->ax, fd;
	struct tls_call *t, call;
	u64 n = 0;

	if (!tgid_wanted(id >> 32) || tgid_disabled(id >> 32))
		return 0;
	t = bpf_map_lookup_elem(&tls_calls, &slot);
	if (!t)
		return 0;
	if (t->tid != tid) {
		/* Another thread took the slot during the call (a return probe sees only calls that
		 * passed its entry probe, which is attached first). */
		if (ret > 0)
			tls_count(TLS_UNATTRIBUTED);
		return 0;
	}
	call = *t;
	t->tid = 0;
	if (ex) {
		if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)call.outlen))
			return 0;
	} else if (ret > 0) {
		n = ret;
	}
	if (!n)
		return 0;
	fd = openssl_fd(&call, id >> 32);
	if (fd < 0) {
		tls_count(TLS_UNATTRIBUTED);
		return 0;
	}
	tls_plaintext(regs, id >> 32, fd, dir, call.buf, n);
	return 0;
}

/* One build for both transports: the plaintext program the probe tail-calls is the transport's. */
#define OPENSSL_RET(name, dir, ex)                                      \
	SEC("uprobe")                                                   \
	int tls_openssl_##name##_ret(struct pt_regs *regs)              \
	{                                                               \
		return openssl_ret(regs, dir, ex);                      \
	}

OPENSSL_RET(read, DirIngress, false)
OPENSSL_RET(write, DirEgress, false)
OPENSSL_RET(read_ex, DirIngress, true)
OPENSSL_RET(write_ex, DirEgress, true)

/* ==== Go crypto/tls ===============================================================================
 *
 * Uprobes on (*tls.Conn).Write and Read of Go binaries with the register ABI (Go 1.17+, amd64), and
 * on each of their RET instructions instead of uretprobes: a uretprobe replaces the return address
 * on the stack, and Go copies stacks when they grow, so the trampoline's address ends up in a frame
 * the kernel no longer knows and the process crashes. At entry AX is the *tls.Conn, BX and CX the
 * buffer's pointer and length; at a RET, AX is n. A call is keyed by (tgid, direction, g) — R14
 * holds the running goroutine's g — never by thread: a Read that parks resumes on whatever thread
 * the scheduler picks. The fd comes from the tls.Conn's net.Conn (a *net.TCPConn or *net.UnixConn,
 * both start with net.conn{fd *netFD}) through the offsets in the probe's attach cookie, which
 * user space reads from the binary (observer/gotls): every process of a binary is covered from its
 * first call, with no per-process map to fill. bpf_get_attach_cookie on a uprobe needs 5.15; the
 * loader loads these programs only where the kernel has it. Plaintext lost on the way (no cookie,
 * no saved entry, no fd) counts as TLS_UNATTRIBUTED. */

struct gotls_key {
	u32 tgid;
	u32 dir;
	u64 g;
};

struct gotls_call {
	u64 conn;
	u64 buf;
	u64 len;
	u64 ts; /* a Write's start: its events' time */
};

/* Calls between entry and return. LRU: a call that never returns (a panic unwinding through it, a
 * process that exits inside it) is pushed out by live ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct gotls_key);
	__type(value, struct gotls_call);
} go_tls_calls SEC(".maps");

/* The probe's cookie (bpf/shared.h, NETOBSERVER_GOTLS_MAGIC), 0 if it carries none. */
static __always_inline u64 gotls_cookie(struct pt_regs *regs)
{
	u64 c = bpf_get_attach_cookie(regs);

	return (c >> 56) == NETOBSERVER_GOTLS_MAGIC ? c : 0;
}

SEC("uprobe")
int tls_go_entry(struct pt_regs *regs)
{
	u64 id = bpf_get_current_pid_tgid(), c = gotls_cookie(regs);
	struct gotls_key k = { .tgid = id >> 32, .dir = (c >> 48) & 0xff, .g = regs->r14 };
	struct gotls_call call = { .conn = regs->ax, .buf = regs->bx, .len = regs->cx };

	if (!c || !tgid_wanted(k.tgid) || tgid_disabled(k.tgid))
		return 0;
	/* A Write's events carry its start, not its return: the goroutine may reach the RET (after
	 * exitsyscall hands it to a scheduler) only once the peer's answer to it was already read
	 * by another goroutine, and the consumer pairs requests and responses in time order. A
	 * Read keeps its return's time: its start may be long before its data arrived. */
	if (k.dir == DirEgress)
		call.ts = bpf_ktime_get_ns();
	/* A stack that grows makes the function start over: the same call is saved again. */
	bpf_map_update_elem(&go_tls_calls, &k, &call, BPF_ANY);
	return 0;
}

/* One build for both transports, like the OpenSSL return probes. */
SEC("uprobe")
int tls_go_return(struct pt_regs *regs)
{
	u64 id = bpf_get_current_pid_tgid(), c = gotls_cookie(regs);
	struct gotls_key k = { .tgid = id >> 32, .dir = (c >> 48) & 0xff, .g = regs->r14 };
	struct gotls_call call, *saved;
	s64 n = (s64)regs->ax, fd = -1;
	u64 p = 0;

	if (n <= 0 || !tgid_wanted(k.tgid) || tgid_disabled(k.tgid))
		return 0;
	saved = c ? bpf_map_lookup_elem(&go_tls_calls, &k) : NULL;
	if (!saved) {
		tls_count(TLS_UNATTRIBUTED);
		return 0;
	}
	call = *saved;
	bpf_map_delete_elem(&go_tls_calls, &k);
	if ((u64)n > call.len)
		return 0; /* not this call's result: never guessed at */
	if (bpf_probe_read_user(&p, sizeof(p), (void *)(call.conn + (c & 0xffff))) || !p ||
	    bpf_probe_read_user(&p, sizeof(p), (void *)(p + ((c >> 16) & 0xffff))) || !p ||
	    bpf_probe_read_user(&fd, sizeof(fd), (void *)(p + ((c >> 32) & 0xffff))) || fd < 0 || fd > 0x7fffffff) {
		tls_count(TLS_UNATTRIBUTED);
		return 0;
	}
	tls_plaintext_at(regs, k.tgid, (s32)fd, k.dir, call.buf, (u64)n, call.ts);
	return 0;
}

/* ==== end of Go crypto/tls ======================================================================= */

/* ---- process identity (netobserver's optional extension) -------------------------------------
 *
 * One event per exec, per fork of a new process and per process exit (netobserver_proc_event_t),
 * so that user space can name a process after it is gone: its start time (the /proc key that pid
 * reuse cannot fool), parent, comm, the head of its argv and the last two components of its cgroup
 * path. Attached only when the consumer registered a process callback. Two builds of each: raw
 * tracepoints (4.17+, no perf trace record, no tracefs; fork gets the child's task) and the plain
 * sched:sched_process_* tracepoints as the fallback. All read the task through CO-RE probe reads. */

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} proc_events SEC(".maps");

/* The event is built here: at 832 bytes it does not fit the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct netobserver_proc_event_t);
} proc_scratch SEC(".maps");

/* Plain tracepoint records (sched:sched_process_fork / _exec / _exit): only the pids are used. */
struct sched_fork_ctx {
	unsigned long long common;
	u32 parent_comm_loc;
	s32 parent_pid;
	u32 child_comm_loc;
	s32 child_pid;
};

static __always_inline u64 bound_args(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0x1ff\n\t%0 += 1" : "+r"(n));
	return n;
}

static __always_inline u64 task_start_ns(struct task_struct *t)
{
	if (bpf_core_field_exists(t->start_boottime))
		return BPF_CORE_READ(t, start_boottime);
	return BPF_CORE_READ((struct task_struct___old *)t, real_start_time);
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	struct kernfs_node___rcu *k = (void *)kn;

	if (bpf_core_field_exists(k->__parent))
		return BPF_CORE_READ(k, __parent);
	return BPF_CORE_READ(kn, parent);
}

/* The cgroup path's last two names: of the v2 hierarchy, else (a v1-only host, where the v2 root is
 * all a task has there) of the memory controller's hierarchy. */
static __always_inline void proc_cgroup(struct netobserver_proc_event_t *ev, struct task_struct *t)
{
	struct css_set *cs = BPF_CORE_READ(t, cgroups);
	struct kernfs_node *kn = BPF_CORE_READ(cs, dfl_cgrp, kn);
	struct kernfs_node *parent = kn_parent(kn);

	if (!parent && bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		struct cgroup_subsys_state *css = 0;
		u32 idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		if (idx < 12) {
			bpf_probe_read_kernel(&css, sizeof(css), (void *)((u64)cs + bpf_core_field_offset(cs->subsys) + idx * 8));
			if (css) {
				kn = BPF_CORE_READ(css, cgroup, kn);
				parent = kn_parent(kn);
			}
		}
	}
	ev->cgroup_id = BPF_CORE_READ(kn, id);
	ev->cgroup_leaf[0] = 0;
	ev->cgroup_parent[0] = 0;
	if (!parent) /* the root: no container */
		return;
	bpf_probe_read_kernel_str(ev->cgroup_leaf, sizeof(ev->cgroup_leaf), BPF_CORE_READ(kn, name));
	if (kn_parent(parent))
		bpf_probe_read_kernel_str(ev->cgroup_parent, sizeof(ev->cgroup_parent), BPF_CORE_READ(parent, name));
}

/* Fills the event of process t; argv is read from the current task's memory (t itself for exec,
 * the parent, whose argv the child shares, for fork). An exit carries only the fixed part (up to
 * the cgroup names): user space knows the rest since the exec or fork, and the copies of argv and
 * the cgroup names are most of an event's cost. */
static __always_inline void proc_emit(void *ctx, u32 type, struct task_struct *t, u32 tgid, u32 ppid, u64 start, u32 flags,
				      bool rb)
{
	u32 zero = 0;
	struct netobserver_proc_event_t *ev = bpf_map_lookup_elem(&proc_scratch, &zero);
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm;
	u64 arg_start, arg_end, n;

	if (!ev)
		return;
	ev->type = type;
	ev->tgid = tgid;
	ev->ts = bpf_ktime_get_ns();
	ev->start_ns = start;
	ev->flags = flags;
	ev->ppid = ppid;
	BPF_CORE_READ_INTO(&ev->comm, t, comm);
	ev->args_size = 0;
	ev->args_total = 0;
	if (type == ProcExit) {
		ev->cgroup_id = 0;
		output(ctx, PROC_HAND, &proc_events, ev, __builtin_offsetof(struct netobserver_proc_event_t, cgroup_parent), rb);
		return;
	}
	proc_cgroup(ev, t);
	mm = BPF_CORE_READ(cur, mm);
	if (!mm) /* a kernel thread */
		goto out;
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	if (arg_end <= arg_start)
		goto out;
	n = arg_end - arg_start;
	ev->args_total = n > 0xffffffff ? 0xffffffff : (u32)n;
	if (n > NETOBSERVER_PROC_ARGS)
		n = NETOBSERVER_PROC_ARGS;
	n = bound_args(n);
	if (bpf_probe_read_user(ev->args, n, (void *)arg_start))
		ev->flags |= ProcArgsFailed;
	else
		ev->args_size = (u32)n;
out:
	output(ctx, PROC_HAND, &proc_events, ev, sizeof(*ev), rb);
}

static __always_inline int proc_exec(void *ctx, bool rb)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	proc_emit(ctx, ProcExec, t, BPF_CORE_READ(t, tgid), BPF_CORE_READ(t, real_parent, tgid), task_start_ns(t), 0, rb);
	return 0;
}

/* sched_process_exit runs for every thread; the process is gone when the last one leaves
 * (signal->live reached 0 before the tracepoint). */
static __always_inline int proc_exit(void *ctx, bool rb)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	proc_emit(ctx, ProcExit, t, BPF_CORE_READ(t, tgid), BPF_CORE_READ(t, real_parent, tgid), task_start_ns(t), 0, rb);
	return 0;
}

/* raw tracepoints: sched_process_fork(parent, child); a child that is a thread (pid != tgid) is
 * no new process. */
static __always_inline int fork_raw_body(struct bpf_raw_tracepoint_args *ctx, bool rb)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	u32 tgid = BPF_CORE_READ(child, tgid);

	if (BPF_CORE_READ(child, pid) != (int)tgid)
		return 0;
	proc_emit(ctx, ProcFork, child, tgid, BPF_CORE_READ(child, real_parent, tgid), task_start_ns(child), 0, rb);
	return 0;
}

/* Plain tracepoint: only the child's pid is known, the parent is the current task. A thread's
 * creation looks the same and is reported too (user space keys processes by tgid, so an entry for
 * a thread id is never asked for); the start is the fork's time, converted by user space. */
static __always_inline int fork_tp_body(struct sched_fork_ctx *ctx, bool rb)
{
	struct task_struct *parent = (struct task_struct *)bpf_get_current_task();

	proc_emit(ctx, ProcFork, parent, (u32)ctx->child_pid, BPF_CORE_READ(parent, tgid), 0, ProcStartEstimated, rb);
	return 0;
}

#define PROC_PROGS(sec, suffix, rb)                                                        \
	SEC(sec "sched_process_exec")                                                      \
	int proc_exec_##suffix(void *ctx) { return proc_exec(ctx, rb); }                  \
	SEC(sec "sched_process_exit")                                                      \
	int proc_exit_##suffix(void *ctx) { return proc_exit(ctx, rb); }

PROC_PROGS("raw_tp/", raw_rb, true)
PROC_PROGS("raw_tp/", raw, false)
PROC_PROGS("tracepoint/sched/", tp, false)

SEC("raw_tp/sched_process_fork")
int proc_fork_raw_rb(struct bpf_raw_tracepoint_args *ctx) { return fork_raw_body(ctx, true); }
SEC("raw_tp/sched_process_fork")
int proc_fork_raw(struct bpf_raw_tracepoint_args *ctx) { return fork_raw_body(ctx, false); }
SEC("tracepoint/sched/sched_process_fork")
int proc_fork_tp(struct sched_fork_ctx *ctx) { return fork_tp_body(ctx, false); }
