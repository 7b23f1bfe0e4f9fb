// SPDX-License-Identifier: Apache-2.0
/*
 * libebpf.so loader: the 17 functions of the iLogtail ABI (include/libebpf.h) on top of libbpf and
 * the CO-RE programs of netobserver.bpf.c, embedded through a bpftool skeleton.
 *
 * Threading: like the original, the library keeps global state and expects its caller to
 * serialise init/config/start/poll/stop; callbacks run on the thread that polls.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "latency_bounds.h"
#include "libebpf.h"
#include "shared.h"
#include "skel-open.h"

/* The protocols kernel aggregation takes (netobserver_kernel_aggregation2): HTTP/1.x, Redis. */
#define AGG_PROTOCOLS (1u << (ProtoHTTP - 1) | 1u << (ProtoRedis - 1))
/* The protocols netobserver_kernel_aggregation2 was given before ebpf_init: each one's program
 * (http_agg_btf, ≈ 660 000 instructions for the verifier, a second or two of CPU at every start;
 * redis_agg_btf) is loaded only when its protocol is among them. */
static uint32_t agg_asked;

#define EXPORT __attribute__((visibility("default")))

#ifndef NETOBSERVER_VERSION
#define NETOBSERVER_VERSION "dev"
#endif

#define LOG_WARN 0
#define LOG_INFO 1
#define LOG_DEBUG 2

/* ctrl, data, stats (callback_type_e), then PROC_HAND: the process events of the optional
 * extension, opened only when a process callback is set. */
#define NUM_BUFFERS 4
#define DEFAULT_PAGES 128
/* Process events are rare (an exec or a fork is ~100 µs of kernel work): 64 pages per CPU hold
 * ~300 of them, a fork storm of 10 000 per second per CPU for a 30 ms poll sleep. */
#define PROC_PAGES 64
/* A perf record's size field is 16 bits: no record is larger, wrapped ones are copied here. */
#define MAX_RECORD 65536

/* One per-CPU perf ring. */
struct ring {
	int fd;
	int cpu;
	void *base;
	size_t data_size;
	uint64_t head, tail; /* positions during a poll; the tail is published when the callbacks are done */
	int state;           /* during a poll: HEAD_UNKNOWN, HEAD_READY (hts valid) or HEAD_EMPTY */
	uint64_t hts;        /* timestamp of the next record (0 for a loss notice) */
};

/* One per-CPU BPF ring buffer (ring buffer transport). */
struct rbuf {
	int fd;
	int cpu;
	uint32_t key;   /* its slot in the rings table: cpu * NETOBSERVER_NUM_RINGS + the event kind */
	bool published; /* in the rings table */
	uint64_t *cons; /* consumer position page (ours to write) */
	void *prod;     /* producer position page, then the data pages mapped twice */
	size_t size;    /* data bytes, a power of two */
	uint64_t next;  /* consumer position during a poll, published when the callbacks are done */
	uint64_t limit; /* producer position read at the start of the poll: later records wait */
	int state;      /* as struct ring's */
	uint64_t hts;
	void *hrec;
	uint32_t hsize;
};

/* One event kind: per-CPU perf rings, or per-CPU BPF ring buffers. */
struct buffer {
	struct ring *rings;
	int nrings;
	struct rbuf *rbs;
	int nrbs;
	uint64_t lost_seen; /* ring_lost count already reported */
};

/* A close or final stats event made in user space: the kernel side never saw these connections
 * end (their process exited, or their fd was closed without close()), so when user space deletes
 * them from the map, their totals are reported as a close would have. */
struct final_event {
	int which; /* CTRL_HAND or STAT_HAND */
	union {
		struct conn_ctrl_event_t ctrl;
		struct conn_stats_event_t stats;
	};
};

/* Bit p-1 of every ABI protocol p: iLogtail's nine, then ours from ProtoHTTP2 (HTTP/2,
 * memcached, AMQP, MQTT, NATS). A 9-bit mask would leave ours without data events. */
#define PROTO_MASK_ALL (0x1ffu | (((1u << (NetobserverProtoEnd - 1)) - 1) & ~((1u << (ProtoHTTP2 - 1)) - 1)))

/* A uprobe: a uprobe_multi link's fd where the kernel has them, else libbpf's perf-event link. */
struct uprobe_link {
	bool used;
	struct bpf_link *link;
	int fd;
};

static struct {
	net_print_fn_t print;
	net_data_process_func_t data_fn;
	void *data_ctx;
	net_ctrl_process_func_t ctrl_fn;
	void *ctrl_ctx;
	net_statistics_process_func_t stats_fn;
	void *stats_ctx;
	net_lost_func_t lost_fn;
	void *lost_ctx;
	netobserver_proc_func_t proc_fn;
	void *proc_ctx;
	bool proc_attached; /* the last ebpf_start attached the process programs */

	struct netobserver_config cfg;
	int pages[NUM_BUFFERS];
	int open_pages[NUM_BUFFERS]; /* the sizes the buffers were opened with by the last start */

	struct netobserver_bpf *skel;
	const char *hook; /* name of the loaded syscall hook set */
	bool ringbuf;     /* events travel through BPF ring buffers (tp_btf set), not perf buffers */
	bool scan_loop;   /* the HTTP header scan runs on bpf_loop (http_loop_btf, http_loop_tls_rb) */
	const volatile uint64_t *ring_lost; /* the BPF side's lost counters, memory-mapped */
	struct bpf_program *tail_progs[NETOBSERVER_NUM_TAILS];
	struct uprobe_link uprobes[4];
	struct uprobe_link ext_uprobes[NETOBSERVER_MAX_EXT_UPROBES]; /* netobserver_attach_uprobe's links */
	bool uprobe_multi; /* uprobes are attached as uprobe_multi links (Linux 6.6+) */
	bool uprobe_multi_pid; /* those of one process too (the stubs' links; 6.10+) */
	struct bpf_link **tracepoints;
	int ntracepoints;
	struct buffer buffers[NUM_BUFFERS];
	/* Every ring's fd, edge-triggered: netobserver_wait_events sleeps here. Created by the first
	 * ebpf_init, kept for the life of the process so that a waiting thread never sees it closed. */
	int epfd;
	/* An eventfd in epfd's set: netobserver_wake_events ends a wait with it. */
	int wakefd;
	bool started;
	pid_t owner; /* the process that loaded everything */

	/* Final events of connections ebpf_delete_map_value deleted, for the next polls (in time order). */
	struct final_event *finals;
	size_t nfinals, finals_cap, finals_next;

	/* The tail of what libbpf reported while loading, to quote the verifier on failure. */
	char load_log[8192];
	size_t load_log_len;
	bool capture_log;
} g = {
	.cfg = { .tgid_filter = -1, .self_pid = -1, .port_filter = -1, .sampling = DATA_SAMPLE_ALL },
	.pages = { DEFAULT_PAGES, DEFAULT_PAGES, DEFAULT_PAGES, PROC_PAGES },
	.epfd = -1,
	.wakefd = -1,
};

static char record_copy[MAX_RECORD] __attribute__((aligned(8)));

static const char *const buffer_names[NUM_BUFFERS] = { "ctrl", "data", "stats", "proc" };

static void vlog(int level, const char *fmt, va_list ap)
{
	if (g.print)
		g.print((int16_t)level, fmt, ap);
	else if (level == LOG_WARN)
		vfprintf(stderr, fmt, ap);
}

__attribute__((format(printf, 2, 3))) static void logmsg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static void capture(const char *fmt, va_list ap)
{
	char line[4096];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	size_t len;

	if (n <= 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (len >= sizeof(g.load_log)) {
		memcpy(g.load_log, line + len - (sizeof(g.load_log) - 1), sizeof(g.load_log) - 1);
		g.load_log_len = sizeof(g.load_log) - 1;
	} else {
		if (g.load_log_len + len >= sizeof(g.load_log)) {
			size_t drop = g.load_log_len + len - (sizeof(g.load_log) - 1);
			memmove(g.load_log, g.load_log + drop, g.load_log_len - drop);
			g.load_log_len -= drop;
		}
		memcpy(g.load_log + g.load_log_len, line, len);
		g.load_log_len += len;
	}
	g.load_log[g.load_log_len] = 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int ours = level == LIBBPF_WARN ? LOG_WARN : level == LIBBPF_INFO ? LOG_INFO : LOG_DEBUG;

	if (g.capture_log && level == LIBBPF_WARN) {
		va_list copy;

		va_copy(copy, ap);
		capture(fmt, copy);
		va_end(copy);
	}
	vlog(ours, fmt, ap);
	return 0;
}

/* ---- the uprobe stubs ---------------------------------------------------------------------- */

/* Each stub stores into its own slot: a side effect the optimiser must keep (so a caller's call
 * survives), and a distinct body (so no identical-code folding can merge two stubs). */
static volatile uintptr_t stub_sink[4];

EXPORT __attribute__((noinline, used)) void ebpf_cleanup_dog(void *ids, int32_t count)
{
	stub_sink[0] = (uintptr_t)ids + (uintptr_t)count;
	__asm__ volatile("" : : "r"(ids), "r"(count) : "memory");
}

EXPORT __attribute__((noinline, used)) void ebpf_update_conn_addr(struct connect_id_t *id, union sockaddr_t *addr,
								   uint16_t local_port, bool drop)
{
	stub_sink[1] = (uintptr_t)id ^ (uintptr_t)addr;
	__asm__ volatile("" : : "r"(id), "r"(addr), "r"(local_port), "r"(drop) : "memory");
}

EXPORT __attribute__((noinline, used)) void ebpf_disable_process(uint32_t pid, bool drop)
{
	stub_sink[2] = pid;
	__asm__ volatile("" : : "r"(pid), "r"(drop) : "memory");
}

EXPORT __attribute__((noinline, used)) void ebpf_update_conn_role(struct connect_id_t *id, enum support_role_e role)
{
	stub_sink[3] = (uintptr_t)id - (uintptr_t)role;
	__asm__ volatile("" : : "r"(id), "r"(role) : "memory");
}

/* ---- setup callbacks ----------------------------------------------------------------------- */

EXPORT void ebpf_setup_net_data_process_func(net_data_process_func_t func, void *custom_data)
{
	g.data_fn = func;
	g.data_ctx = custom_data;
}

EXPORT void ebpf_setup_net_event_process_func(net_ctrl_process_func_t func, void *custom_data)
{
	g.ctrl_fn = func;
	g.ctrl_ctx = custom_data;
}

EXPORT void ebpf_setup_net_statistics_process_func(net_statistics_process_func_t func, void *custom_data)
{
	g.stats_fn = func;
	g.stats_ctx = custom_data;
}

EXPORT void ebpf_setup_net_lost_func(net_lost_func_t func, void *custom_data)
{
	g.lost_fn = func;
	g.lost_ctx = custom_data;
}

EXPORT void ebpf_setup_print_func(net_print_fn_t func)
{
	g.print = func;
}

/* The optional process extension (include/libebpf.h, bpf/README.md). */
EXPORT void netobserver_setup_process_func(netobserver_proc_func_t func, void *custom_data)
{
	g.proc_fn = func;
	g.proc_ctx = custom_data;
}

EXPORT const char *netobserver_libebpf_version(void)
{
	return "netobserver-libebpf " NETOBSERVER_VERSION;
}

/* ---- config -------------------------------------------------------------------------------- */

static void push_config(void)
{
	uint32_t zero = 0;
	int err;

	if (!g.skel)
		return;
	err = bpf_map_update_elem(bpf_map__fd(g.skel->maps.config_map), &zero, &g.cfg, BPF_ANY);
	if (err)
		logmsg(LOG_WARN, "libebpf: writing the kernel config map failed: %s\n", strerror(errno));
}

EXPORT void ebpf_config(int32_t opt1, int32_t opt2, int32_t params_count, void **params, int32_t *params_len)
{
	int32_t v;

	if (!params || !params_len || params_count < 1 || !params[0] || params_len[0] < (int32_t)sizeof(int32_t)) {
		push_config();
		return;
	}
	v = *(int32_t *)params[0];
	switch (opt1) {
	case PROTOCOL_FILTER:
		if (v < -1 || (v != -1 && ((uint32_t)v & ~PROTO_MASK_ALL))) {
			logmsg(LOG_WARN, "libebpf: PROTOCOL_FILTER %d is neither -1 nor a mask of the ABI's protocols; ignored\n", v);
			return;
		}
		g.cfg.proto_mask = v == -1 ? PROTO_MASK_ALL : (uint32_t)v;
		g.cfg.proto_set = 1;
		break;
	case TGID_FILTER:
		g.cfg.tgid_filter = v > 0 ? v : -1;
		break;
	case SELF_FILTER:
		g.cfg.self_pid = v > 0 ? v : -1;
		break;
	case PORT_FILTER:
		/* Stored for compatibility; like the original, the kernel side does not apply it. */
		g.cfg.port_filter = v;
		break;
	case DATA_SAMPLING:
		g.cfg.sampling = v < 0 || v > DATA_SAMPLE_ALL ? DATA_SAMPLE_ALL : v;
		break;
	case PERF_BUFFER_PAGE: {
		int pages = v <= 0 ? DEFAULT_PAGES : v;

		if (opt2 < CTRL_HAND || opt2 > PROC_HAND) {
			logmsg(LOG_WARN, "libebpf: PERF_BUFFER_PAGE for unknown buffer %d; ignored\n", opt2);
			return;
		}
		if (pages & (pages - 1)) {
			int p = 1;
			while (p < pages && p < (1 << 20))
				p <<= 1;
			logmsg(LOG_WARN, "libebpf: PERF_BUFFER_PAGE %d is not a power of two; using %d\n", pages, p);
			pages = p;
		}
		g.pages[opt2] = pages;
		return; /* takes effect at the next ebpf_start */
	}
	default:
		logmsg(LOG_WARN, "libebpf: unknown ebpf_config option %d; ignored\n", opt1);
		return;
	}
	push_config();
}

/* ---- fill watermark wakeups ----------------------------------------------------------------- */

/* A ring's fd wakes epoll only when the ring passes its fill watermark (a quarter of a BPF ring:
 * the programs ask for a wakeup then, and for none below; a perf buffer's wakeup_watermark). Edge
 * triggered: a ring that holds a few events but is below its watermark does not end the wait. */
static void watch_ring(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = fd };

	if (g.epfd >= 0 && epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev))
		logmsg(LOG_WARN, "libebpf: watching ring fd %d failed: %s; it is polled on the timer only\n", fd,
		       strerror(errno));
}

static void unwatch_ring(int fd)
{
	if (g.epfd >= 0)
		epoll_ctl(g.epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* The optional wakeup extension (include/libebpf.h): sleeps until a ring passes its watermark or
 * timeout_ms passed. Safe to call without the caller's serialisation, concurrently with a poll or a
 * restart (it touches nothing but the epoll fd, which is never closed while the library is loaded). */
EXPORT int32_t netobserver_wait_events(int32_t timeout_ms)
{
	struct epoll_event ev[8];
	int n, rings = 0;

	if (g.epfd < 0)
		return -EBADF;
	n = epoll_wait(g.epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t v;

		if (ev[i].data.fd != g.wakefd)
			rings++;
		else if (read(g.wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			logmsg(LOG_WARN, "libebpf: reading the wake eventfd failed: %s\n", strerror(errno));
	}
	return rings;
}

/* The optional wake extension (include/libebpf.h): ends the current or the next
 * netobserver_wait_events at once, so that a consumer stopping does not wait for its sleep. */
EXPORT int32_t netobserver_wake_events(void)
{
	uint64_t one = 1;

	if (g.wakefd < 0)
		return -EBADF;
	return write(g.wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN ? -errno : 0;
}

/* ---- perf buffers -------------------------------------------------------------------------- */

static void close_buffer(struct buffer *b, int map_fd)
{
	for (int i = 0; i < b->nrings; i++) {
		struct ring *r = &b->rings[i];

		if (map_fd >= 0)
			bpf_map_delete_elem(map_fd, &r->cpu);
		if (r->base)
			munmap(r->base, r->data_size + (size_t)getpagesize());
		if (r->fd >= 0)
			unwatch_ring(r->fd);
		if (r->fd >= 0)
			close(r->fd);
	}
	free(b->rings);
	b->rings = NULL;
	b->nrings = 0;
}

/* One BPF-output perf event per CPU. ebpf_poll_events is non-blocking and reads the ring heads
 * directly; the fds wake netobserver_wait_events only at the fill watermark, a quarter of the ring,
 * so the kernel does not queue a wakeup per event. */
static int open_buffer(struct buffer *b, int map_fd, int pages, const char *name)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t page = (size_t)getpagesize();

	if (ncpu <= 0) {
		logmsg(LOG_WARN, "libebpf: cannot count CPUs: %s\n", strerror(-ncpu));
		return ncpu ? ncpu : -EINVAL;
	}
	b->rings = calloc((size_t)ncpu, sizeof(*b->rings));
	if (!b->rings)
		return -ENOMEM;
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_BPF_OUTPUT,
			.sample_period = 1,
			.sample_type = PERF_SAMPLE_RAW,
			.watermark = 1,
			.wakeup_watermark = (uint32_t)(pages * page / 4),
		};
		struct ring *r = &b->rings[b->nrings];
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			int err = errno;
			if (err == ENODEV) /* an offline CPU runs no programs */
				continue;
			logmsg(LOG_WARN, "libebpf: perf_event_open for the %s buffer on CPU %d failed: %s\n", name, cpu,
			       strerror(err));
			close_buffer(b, map_fd);
			return -err;
		}
		r->fd = fd;
		r->cpu = cpu;
		r->data_size = (size_t)pages * page;
		r->base = mmap(NULL, r->data_size + page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		b->nrings++;
		if (r->base == MAP_FAILED) {
			int err = errno;
			r->base = NULL;
			logmsg(LOG_WARN, "libebpf: mapping %d pages for the %s buffer on CPU %d failed: %s\n", pages, name,
			       cpu, strerror(err));
			close_buffer(b, map_fd);
			return -err;
		}
		watch_ring(fd);
		if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) || bpf_map_update_elem(map_fd, &cpu, &fd, BPF_ANY)) {
			int err = errno;
			logmsg(LOG_WARN, "libebpf: enabling the %s buffer on CPU %d failed: %s\n", name, cpu,
			       strerror(err));
			close_buffer(b, map_fd);
			return -err;
		}
	}
	return 0;
}

/* ---- BPF ring buffers (ring buffer transport) ---------------------------------------------- */

/* PERF_BUFFER_PAGE pages per CPU, as for the perf buffers; a ring buffer's size must be a power of
 * two (the pages already are) of at least one page. */
static size_t ring_bytes(int pages)
{
	size_t want = (size_t)pages * (size_t)getpagesize(), size = (size_t)getpagesize();

	while (size < want)
		size <<= 1;
	return size;
}

/* The CPUs online now ("0-3,5" in sysfs); false if the list cannot be read. */
static bool online_cpus(bool *online, int n)
{
	char buf[4096];
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	for (char *p = buf; ok && *p && *p != '\n';) {
		char *end;
		long first = strtol(p, &end, 10), last = first;

		if (end == p)
			return false;
		if (*end == '-') {
			p = end + 1;
			last = strtol(p, &end, 10);
			if (end == p)
				return false;
		}
		for (long c = first; c <= last && c < n; c++)
			if (c >= 0)
				online[c] = true;
		p = *end == ',' ? end + 1 : end;
	}
	return ok;
}

/* Runs fn(arg, i) for every i < n from up to `threads` threads (at most PARALLEL_THREADS) and
 * returns when all are done: for syscalls that each wait for a grace period, the waits overlap. */
#define PARALLEL_THREADS 32

struct parallel_slice {
	void (*fn)(void *arg, int i);
	void *arg;
	int n, first, stride;
};

static void *run_slice(void *p)
{
	struct parallel_slice *s = p;

	for (int i = s->first; i < s->n; i += s->stride)
		s->fn(s->arg, i);
	return NULL;
}

static void parallel_for(void (*fn)(void *arg, int i), void *arg, int n, int threads)
{
	struct parallel_slice slices[PARALLEL_THREADS];
	pthread_t tids[PARALLEL_THREADS];
	int nt = threads < PARALLEL_THREADS ? threads : PARALLEL_THREADS, started;

	if (nt > n)
		nt = n;
	if (nt < 1)
		nt = 1;
	for (int t = 0; t < nt; t++)
		slices[t] = (struct parallel_slice){ .fn = fn, .arg = arg, .n = n, .first = t, .stride = nt };
	for (started = 1; started < nt; started++)
		if (pthread_create(&tids[started], NULL, run_slice, &slices[started]))
			break;
	/* Slices that got no thread (pthread_create failed) run here. */
	run_slice(&slices[0]);
	for (int t = started; t < nt; t++)
		run_slice(&slices[t]);
	for (int t = 1; t < started; t++)
		pthread_join(tids[t], NULL);
}

/* Deleting a ring from the table waits for a grace period (≈ 12 ms here: the 8 rings of a 2-CPU
 * host took 96 ms of each stop one after the other), so that no program still writes into it. */
static void unpublish_ring(struct rbuf *r)
{
	if (r->published && g.skel)
		bpf_map_delete_elem(bpf_map__fd(g.skel->maps.rings), &r->key);
	r->published = false;
}

static void unpublish_ring_at(void *rings, int i)
{
	unpublish_ring(((struct rbuf **)rings)[i]);
}

static void close_rings(struct buffer *b)
{
	size_t page = (size_t)getpagesize();

	for (int i = 0; i < b->nrbs; i++) {
		struct rbuf *r = &b->rbs[i];

		unpublish_ring(r);
		if (r->cons)
			munmap(r->cons, page);
		if (r->prod)
			munmap(r->prod, page + 2 * r->size);
		unwatch_ring(r->fd);
		close(r->fd);
	}
	free(b->rbs);
	b->rbs = NULL;
	b->nrbs = 0;
}

/* A fresh ring of the configured size per online CPU, mapped (the data twice, so no record wraps)
 * and put in the BPF side's table; the programs only write into the rings the table holds. A CPU
 * that comes online later has none: its events count as lost, as they did without a perf buffer. */
static int open_rings(struct buffer *b, int which, int pages, const char *name)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t page = (size_t)getpagesize(), size = ring_bytes(pages);
	bool *online;
	int err = 0;

	if (ncpu <= 0) {
		logmsg(LOG_WARN, "libebpf: cannot count CPUs: %s\n", strerror(-ncpu));
		return ncpu ? ncpu : -EINVAL;
	}
	online = calloc((size_t)ncpu, sizeof(*online));
	b->rbs = calloc((size_t)ncpu, sizeof(*b->rbs));
	if (!online || !b->rbs) {
		free(online);
		return -ENOMEM;
	}
	if (!online_cpus(online, ncpu))
		memset(online, true, (size_t)ncpu * sizeof(*online));
	for (int cpu = 0; cpu < ncpu && !err; cpu++) {
		struct rbuf *r = &b->rbs[b->nrbs];
		uint32_t key = (uint32_t)(cpu * NETOBSERVER_NUM_RINGS + which);
		void *cons, *prod;

		if (!online[cpu])
			continue;
		r->fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name, 0, 0, (uint32_t)size, NULL);
		if (r->fd < 0) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: creating the %s ring buffer of %zu bytes for CPU %d failed: %s\n", name,
			       size, cpu, strerror(-err));
			break;
		}
		r->cpu = cpu;
		r->size = size;
		b->nrbs++;
		watch_ring(r->fd);
		cons = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		prod = mmap(NULL, page + 2 * size, PROT_READ, MAP_SHARED, r->fd, (off_t)page);
		r->cons = cons == MAP_FAILED ? NULL : cons;
		r->prod = prod == MAP_FAILED ? NULL : prod;
		if (!r->cons || !r->prod) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: mapping the %s ring buffer (%zu bytes) of CPU %d failed: %s\n", name,
			       size, cpu, strerror(-err));
		} else if (bpf_map_update_elem(bpf_map__fd(g.skel->maps.rings), &key, &r->fd, BPF_ANY)) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: installing the %s ring buffer of CPU %d failed: %s\n", name, cpu,
			       strerror(-err));
		} else {
			r->key = key;
			r->published = true;
		}
	}
	free(online);
	if (err) {
		close_rings(b);
		return err;
	}
	/* Losses before this start were reported, or belong to a run the consumer stopped. */
	b->lost_seen = g.ring_lost[which];
	return 0;
}

struct sample {
	struct perf_event_header header;
	uint32_t size;
	char data[];
};

struct lost_record {
	struct perf_event_header header;
	uint64_t id;
	uint64_t lost;
};

static void deliver(int which, void *data, size_t size)
{
	switch (which) {
	case CTRL_HAND:
		if (g.ctrl_fn && size >= sizeof(struct conn_ctrl_event_t))
			g.ctrl_fn(g.ctrl_ctx, data);
		break;
	case DATA_HAND: {
		const struct conn_data_event_attr_t *a = data;

		if (g.data_fn && size >= sizeof(*a) && a->msg_buf_size <= CONN_DATA_MAX_SIZE &&
		    sizeof(*a) + a->msg_buf_size <= size)
			g.data_fn(g.data_ctx, data);
		break;
	}
	case STAT_HAND:
		if (g.stats_fn && size >= sizeof(struct conn_stats_event_t))
			g.stats_fn(g.stats_ctx, data);
		break;
	case PROC_HAND:
		/* An exit carries only the fixed part; the callback gets a whole event. */
		if (g.proc_fn && size >= sizeof(struct netobserver_proc_event_t)) {
			g.proc_fn(g.proc_ctx, data);
		} else if (g.proc_fn && size >= offsetof(struct netobserver_proc_event_t, cgroup_parent)) {
			static struct netobserver_proc_event_t whole;

			memset(&whole, 0, sizeof(whole));
			memcpy(&whole, data, offsetof(struct netobserver_proc_event_t, cgroup_parent));
			g.proc_fn(g.proc_ctx, &whole);
		}
		break;
	}
}

static void report_lost(int which, uint64_t lost, int cpu)
{
	if (g.lost_fn)
		g.lost_fn(g.lost_ctx, (enum callback_type_e)which, lost);
	else if (cpu >= 0)
		logmsg(LOG_WARN, "libebpf: lost %llu %s events on CPU %d\n", (unsigned long long)lost,
		       buffer_names[which], cpu);
	else
		logmsg(LOG_WARN, "libebpf: lost %llu %s events\n", (unsigned long long)lost, buffer_names[which]);
}

/* Where each event kind keeps its monotonic timestamp. */
static const size_t ts_offset[NUM_BUFFERS] = { offsetof(struct conn_ctrl_event_t, ts),
					       offsetof(struct conn_data_event_attr_t, ts),
					       offsetof(struct conn_stats_event_t, ts),
					       offsetof(struct netobserver_proc_event_t, ts) };

/* Copies len bytes at perf ring position pos, which may wrap at the end of the data pages. */
static void ring_copy(const struct ring *r, uint64_t pos, void *dst, size_t len)
{
	const char *data = (const char *)r->base + getpagesize();
	size_t off = pos & (r->data_size - 1);
	size_t first = r->data_size - off < len ? r->data_size - off : len;

	memcpy(dst, data + off, first);
	memcpy((char *)dst + first, data, len - first);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The header of a perf ring's next sample or loss notice (other records are skipped); false when the
 * ring has nothing more in this poll. */
static bool perf_head(struct ring *r, struct perf_event_header *eh)
{
	while (r->tail != r->head) {
		ring_copy(r, r->tail, eh, sizeof(*eh));
		if (!eh->size) {
			r->head = r->tail; /* not written completely yet */
			return false;
		}
		if (eh->type == PERF_RECORD_SAMPLE || eh->type == PERF_RECORD_LOST)
			return true;
		r->tail += eh->size;
	}
	return false;
}

/* The next complete record of one ring up to the poll's limit (skipping discarded ones), or NULL. */
static void *ring_head(struct rbuf *r, uint32_t *size)
{
	char *data = (char *)r->prod + getpagesize();

	while (r->next < r->limit) {
		uint32_t *hdr = (uint32_t *)(data + (r->next & (r->size - 1)));
		uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);

		if (len & BPF_RINGBUF_BUSY_BIT)
			return NULL;
		if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
			*size = len;
			return (char *)hdr + BPF_RINGBUF_HDR_SZ;
		}
		len &= ~(uint32_t)BPF_RINGBUF_DISCARD_BIT;
		r->next += (len + BPF_RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;
	}
	return NULL;
}

enum { HEAD_UNKNOWN, HEAD_READY, HEAD_EMPTY };

/* The timestamp of a perf ring's next record, cached until it is consumed. */
static bool perf_peek(struct ring *r, int which, uint64_t *ts)
{
	struct perf_event_header eh;

	if (r->state == HEAD_UNKNOWN) {
		r->state = HEAD_EMPTY;
		if (perf_head(r, &eh)) {
			r->hts = 0; /* a loss notice goes first */
			if (eh.type == PERF_RECORD_SAMPLE && eh.size >= sizeof(struct sample) + ts_offset[which] + sizeof(uint64_t))
				ring_copy(r, r->tail + sizeof(struct sample) + ts_offset[which], &r->hts, sizeof(r->hts));
			r->state = HEAD_READY;
		}
	}
	*ts = r->hts;
	return r->state == HEAD_READY;
}

static bool rbuf_peek(struct rbuf *r, int which, uint64_t *ts)
{
	if (r->state == HEAD_UNKNOWN) {
		r->state = HEAD_EMPTY;
		r->hrec = ring_head(r, &r->hsize);
		if (r->hrec) {
			r->hts = 0;
			if (r->hsize >= ts_offset[which] + sizeof(uint64_t))
				memcpy(&r->hts, (char *)r->hrec + ts_offset[which], sizeof(r->hts));
			r->state = HEAD_READY;
		}
	}
	*ts = r->hts;
	return r->state == HEAD_READY;
}

/* Delivers a perf ring's next record and moves past it. */
static void perf_take(struct ring *r, int which)
{
	struct perf_event_header eh;
	size_t off;
	char *rec;

	perf_head(r, &eh);
	off = r->tail & (r->data_size - 1);
	rec = (char *)r->base + getpagesize() + off;
	if (off + eh.size > r->data_size) {
		ring_copy(r, r->tail, record_copy, eh.size);
		rec = record_copy;
	}
	if (eh.type == PERF_RECORD_SAMPLE) {
		struct sample *smp = (struct sample *)rec;
		deliver(which, smp->data, smp->size);
	} else {
		report_lost(which, ((const struct lost_record *)rec)->lost, r->cpu);
	}
	r->tail += eh.size;
	r->state = HEAD_UNKNOWN;
}

static void rbuf_take(struct rbuf *r, int which)
{
	deliver(which, r->hrec, r->hsize);
	r->next += (r->hsize + BPF_RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;
	r->state = HEAD_UNKNOWN;
}

static uint64_t final_ts(const struct final_event *e)
{
	return e->which == CTRL_HAND ? e->ctrl.ts : e->stats.ts;
}

static void deliver_final(struct final_event *e)
{
	if (e->which == CTRL_HAND)
		deliver(CTRL_HAND, &e->ctrl, sizeof(e->ctrl));
	else
		deliver(STAT_HAND, &e->stats, sizeof(e->stats));
}

/* Whether the buffer of this kind is read: the process buffer only while its programs run. */
static bool buffer_live(int which)
{
	return which != PROC_HAND || g.proc_attached;
}

/* One poll of every buffer: up to budget events of all kinds and all CPUs' rings, merged by event
 * timestamp, so that the consumer meets events in the order they happened — a connect before its
 * data, a close after it and before the next connection on the same fd, a process's exec or fork
 * before its first data and its exit after its last. (The original drained ctrl, then data, then
 * stats, so a recording of a batch put closes before the data of the connections they closed.)
 * Ring buffer loss notices come first; a perf loss notice counts as the oldest event of its ring.
 *
 * The final events of connections ebpf_delete_map_value deleted take their place in that order by
 * their stamp, the time of the deletion: the events still in the rings from before it come first.
 * Delivered ahead of them (as they once were), a short-lived client's final statistics came before
 * the exec that names it — its process gone from /proc by then — and before the last data of its
 * connection (e2e's redis-cli, read 1 s late: its bytes in a record without a process name).
 *
 * Only events stamped before the poll began are delivered. The rings are read one after another,
 * so an event written meanwhile could be seen on one ring while an earlier event it depends on, on
 * another ring read before, was not. But an event that depends on another (the same thread's, or
 * one it caused) was stamped after that one was written: if it is older than the poll, so is the
 * write of the other, which every ring read after the poll began shows. Later events wait for the
 * next poll. The slots are released only after their callbacks returned, which is why event
 * pointers are valid during the callback and not after. */
static int drain_all(int budget)
{
	uint64_t cutoff = monotonic_ns();
	int n = 0;

	if (g.ringbuf) {
		for (int which = 0; which < NUM_BUFFERS && n < budget; which++) {
			struct buffer *b = &g.buffers[which];
			uint64_t lost = g.ring_lost[which];

			if (buffer_live(which) && lost != b->lost_seen) {
				report_lost(which, lost - b->lost_seen, -1);
				b->lost_seen = lost;
				n++;
			}
		}
	}
	for (int which = 0; which < NUM_BUFFERS; which++) {
		struct buffer *b = &g.buffers[which];

		for (int i = 0; i < b->nrings; i++) {
			struct perf_event_mmap_page *h = b->rings[i].base;

			b->rings[i].head = __atomic_load_n(&h->data_head, __ATOMIC_ACQUIRE);
			b->rings[i].tail = h->data_tail;
			b->rings[i].state = HEAD_UNKNOWN;
		}
		for (int i = 0; i < b->nrbs; i++) {
			b->rbs[i].next = *b->rbs[i].cons;
			b->rbs[i].limit = __atomic_load_n((uint64_t *)b->rbs[i].prod, __ATOMIC_ACQUIRE);
			b->rbs[i].state = HEAD_UNKNOWN;
		}
	}
	while (n < budget) {
		int best_which = -1, best_i = -1;
		uint64_t best_ts = 0, ts;

		for (int which = 0; which < NUM_BUFFERS; which++) {
			struct buffer *b = &g.buffers[which];

			for (int i = 0; i < b->nrings; i++)
				if (perf_peek(&b->rings[i], which, &ts) && (best_which < 0 || ts < best_ts)) {
					best_which = which;
					best_i = i;
					best_ts = ts;
				}
			for (int i = 0; i < b->nrbs; i++)
				if (rbuf_peek(&b->rbs[i], which, &ts) && (best_which < 0 || ts < best_ts)) {
					best_which = which;
					best_i = i;
					best_ts = ts;
				}
		}
		if (g.finals_next < g.nfinals && (best_which < 0 || final_ts(&g.finals[g.finals_next]) < best_ts)) {
			deliver_final(&g.finals[g.finals_next++]);
			n++;
			continue;
		}
		if (best_which < 0 || best_ts > cutoff)
			break;
		if (g.ringbuf)
			rbuf_take(&g.buffers[best_which].rbs[best_i], best_which);
		else
			perf_take(&g.buffers[best_which].rings[best_i], best_which);
		n++;
	}
	if (g.finals_next == g.nfinals)
		g.finals_next = g.nfinals = 0;
	for (int which = 0; which < NUM_BUFFERS; which++) {
		struct buffer *b = &g.buffers[which];

		for (int i = 0; i < b->nrings; i++) {
			struct perf_event_mmap_page *h = b->rings[i].base;

			__atomic_store_n(&h->data_tail, b->rings[i].tail, __ATOMIC_RELEASE);
		}
		for (int i = 0; i < b->nrbs; i++)
			__atomic_store_n(b->rbs[i].cons, b->rbs[i].next, __ATOMIC_RELEASE);
	}
	return n;
}

static void queue_final(const struct final_event *e)
{
	if (g.nfinals == g.finals_cap) {
		size_t cap = g.finals_cap ? g.finals_cap * 2 : 128;
		struct final_event *grown = realloc(g.finals, cap * sizeof(*grown));

		if (!grown)
			return; /* out of memory: these totals are lost, as a full ring would lose them */
		g.finals = grown;
		g.finals_cap = cap;
	}
	g.finals[g.nfinals++] = *e;
}

/* Queues the close (sampled connections) and the final stats of the connection at key, as the
 * kernel side's close would have emitted them, unless its process is filtered out. */
static void report_final(uint64_t key, uint32_t tgid)
{
	struct conn c;
	struct final_event e;
	uint8_t disabled;

	if (bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.conn_map), &key, &c) || c.id.tgid != tgid)
		return;
	if ((g.cfg.self_pid > 0 && (uint32_t)g.cfg.self_pid == tgid) ||
	    (g.cfg.tgid_filter > 0 && (uint32_t)g.cfg.tgid_filter != tgid) ||
	    !bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.disabled_map), &tgid, &disabled))
		return;
	if (c.sampled) {
		memset(&e, 0, sizeof(e));
		e.which = CTRL_HAND;
		e.ctrl.type = EventClose;
		e.ctrl.ts = monotonic_ns();
		e.ctrl.conn_id = c.id;
		e.ctrl.close.wr_bytes = c.wr_bytes;
		e.ctrl.close.rd_bytes = c.rd_bytes;
		queue_final(&e);
	}
	memset(&e, 0, sizeof(e));
	e.which = STAT_HAND;
	e.stats.ts = monotonic_ns();
	e.stats.conn_id = c.id;
	e.stats.addr = c.addr;
	e.stats.role = (enum support_role_e)c.role;
	e.stats.wr_bytes = c.wr_bytes;
	e.stats.rd_bytes = c.rd_bytes;
	e.stats.wr_pkts = c.wr_pkts;
	e.stats.rd_pkts = c.rd_pkts;
	e.stats.last_output_wr_bytes = c.last_wr_bytes;
	e.stats.last_output_rd_bytes = c.last_rd_bytes;
	e.stats.last_output_wr_pkts = c.last_wr_pkts;
	e.stats.last_output_rd_pkts = c.last_rd_pkts;
	e.stats.conn_events = 1;
	queue_final(&e);
}

EXPORT int32_t ebpf_poll_events(int32_t max_events, int32_t *stop_flag)
{
	if (stop_flag && *stop_flag)
		return EBPF_POLL_STOPPED;
	if (!g.started)
		return -EINVAL;
	if (max_events <= 0)
		max_events = INT32_MAX;
	return drain_all(max_events);
}

/* ---- init / start / stop ------------------------------------------------------------------- */

static int buffer_map_fd(int which)
{
	struct bpf_map *m = which == CTRL_HAND	 ? g.skel->maps.ctrl_events
			    : which == DATA_HAND ? g.skel->maps.data_events
			    : which == STAT_HAND ? g.skel->maps.stats_events
						 : g.skel->maps.proc_events;
	return bpf_map__fd(m);
}

/* BPF_TRACE_UPROBE_MULTI and its link_create attributes (Linux 6.6), which the uapi headers and
 * libbpf 1.1 we build with do not have. */
#define ATTACH_UPROBE_MULTI 48
#define UPROBE_MULTI_RETURN 1U

struct uprobe_multi_attr {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid, pad;
};

static int uprobe_multi_create(int prog_fd, const char *path, uint64_t offset, bool retprobe, uint64_t cookie,
			       uint32_t pid)
{
	struct uprobe_multi_attr a = {
		.prog_fd = (uint32_t)prog_fd,
		.attach_type = ATTACH_UPROBE_MULTI,
		.path = (uint64_t)(uintptr_t)path,
		.offsets = (uint64_t)(uintptr_t)&offset,
		.cookies = (uint64_t)(uintptr_t)&cookie,
		.cnt = 1,
		.multi_flags = retprobe ? UPROBE_MULTI_RETURN : 0,
		.pid = pid,
	};
	int fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));

	return fd < 0 ? -errno : fd;
}

/* As libbpf 1.3 probes it: a uprobe_multi program loads, and its link on a directory fails with
 * EBADF, not EINVAL. NETOBSERVER_UPROBE_MULTI=off keeps the perf-event uprobes. */
static bool uprobe_multi_supported(void)
{
	static int known = -1;
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = (enum bpf_attach_type)ATTACH_UPROBE_MULTI);
	const char *env = getenv("NETOBSERVER_UPROBE_MULTI");
	int prog, link;

	if (known >= 0)
		return known;
	known = 0;
	if (env && !strcmp(env, "off"))
		return known;
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &opts);
	if (prog < 0)
		return known;
	link = uprobe_multi_create(prog, "/", 0, false, 0, 0);
	known = link == -EBADF;
	if (link >= 0)
		close(link);
	close(prog);
	return known;
}

/* A uprobe_multi link for one process ran its program only on the thread it was made on before
 * Linux 6.10 (46ba0e49b642, "bpf: fix multi-uprobe PID filtering logic"): the stubs, which any
 * thread of the process calls, stay perf-event uprobes there. */
static bool kernel_at_least(int major, int minor)
{
	struct utsname uts;
	int ma = 0, mi = 0;

	return !uname(&uts) && sscanf(uts.release, "%d.%d", &ma, &mi) == 2 &&
	       (ma > major || (ma == major && mi >= minor));
}

/* The stubs' programs: attached for this process only. */
static bool is_stub_program(const struct bpf_program *prog)
{
	return !strncmp(bpf_program__name(prog), "up_", 3);
}

/* Attaches prog at a file offset of path for pid (-1: every process). */
static int attach_uprobe(struct uprobe_link *u, const struct bpf_program *prog, pid_t pid, const char *path,
			 uint64_t offset, bool retprobe, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .bpf_cookie = cookie);
	int err;

	if (g.uprobe_multi && (pid < 0 || g.uprobe_multi_pid)) {
		int fd = uprobe_multi_create(bpf_program__fd(prog), path, offset, retprobe, cookie,
					     pid < 0 ? 0 : (uint32_t)pid);

		if (fd < 0)
			return fd;
		*u = (struct uprobe_link){ .used = true, .fd = fd };
		return 0;
	}
	u->link = bpf_program__attach_uprobe_opts(prog, pid, path, (size_t)offset, &opts);
	if (!u->link) {
		err = -errno;
		return err ? err : -EINVAL;
	}
	u->used = true;
	return 0;
}

/* Closing a uprobe returns after the kernel's unregister waits for an RCU Tasks Trace grace period,
 * ≈ 100 ms here: the 25 TLS probes of a stop took 2.7 s. Perf-event uprobes unregister one at a
 * time whatever the caller does (measured: closed from 25 threads, they still ended ≈ 85 ms apart),
 * uprobe_multi links do not, so those are closed from several threads and the waits overlap. */
static void close_uprobe(struct uprobe_link *u)
{
	if (!u->used)
		return;
	if (u->link)
		bpf_link__destroy(u->link);
	else
		close(u->fd);
	*u = (struct uprobe_link){ 0 };
}

static void close_uprobe_at(void *links, int i)
{
	close_uprobe(&((struct uprobe_link *)links)[i]);
}

/* Every uprobe of links is closed when this returns. The used slots come first (they are taken
 * lowest first), so the threads share them out evenly. */
static void close_uprobes(struct uprobe_link *links, int n)
{
	int used = 0;

	for (int i = 0; i < n; i++)
		used += links[i].used;
	if (used)
		parallel_for(close_uprobe_at, links, n, g.uprobe_multi ? used : 1);
}

static void detach_programs(void)
{
	for (int i = 0; i < g.ntracepoints; i++)
		bpf_link__destroy(g.tracepoints[i]);
	free(g.tracepoints);
	g.tracepoints = NULL;
	g.ntracepoints = 0;
}

/* All rings out of the table at once: their grace periods overlap. */
static void unpublish_rings(void)
{
	struct rbuf **rings;
	int n = 0, max = 0;

	for (int i = 0; i < NUM_BUFFERS; i++)
		max += g.buffers[i].nrbs;
	rings = max ? calloc((size_t)max, sizeof(*rings)) : NULL;
	if (!rings)
		return; /* close_rings deletes them one by one */
	for (int i = 0; i < NUM_BUFFERS; i++)
		for (int j = 0; j < g.buffers[i].nrbs; j++)
			if (g.buffers[i].rbs[j].published)
				rings[n++] = &g.buffers[i].rbs[j];
	parallel_for(unpublish_ring_at, rings, n, n);
	free(rings);
}

static void detach_all(void)
{
	detach_programs();
	unpublish_rings();
	for (int i = 0; i < NUM_BUFFERS; i++) {
		close_buffer(&g.buffers[i], g.skel ? buffer_map_fd(i) : -1);
		close_rings(&g.buffers[i]);
	}
	g.started = false;
	g.proc_attached = false;
}

/* The links of netobserver_attach_uprobe: they produce events, so they go when the programs stop. */
static void detach_ext_uprobes(void)
{
	int n = 0;

	for (int i = 0; i < NETOBSERVER_MAX_EXT_UPROBES; i++)
		n += g.ext_uprobes[i].used;
	close_uprobes(g.ext_uprobes, NETOBSERVER_MAX_EXT_UPROBES);
	if (n)
		logmsg(LOG_INFO, "libebpf: %d attached uprobes detached\n", n);
	if (g.cfg.tls_calls) {
		g.cfg.tls_calls = 0;
		push_config();
	}
}

static void destroy_all(void)
{
	detach_ext_uprobes();
	detach_all();
	close_uprobes(g.uprobes, 4);
	if (g.ring_lost)
		munmap((void *)g.ring_lost, (size_t)getpagesize());
	g.ring_lost = NULL;
	netobserver_bpf__destroy(g.skel);
	g.skel = NULL;
}

/* Only in the process that loaded: a forked child that exits shares the perf events and maps, and
 * detaching or deleting them there would silence the parent. */
__attribute__((destructor)) static void unload(void)
{
	if (g.skel && g.owner == getpid())
		destroy_all();
	if (g.epfd >= 0)
		close(g.epfd);
	if (g.wakefd >= 0)
		close(g.wakefd);
}

/* The offset a uprobe wants is a file offset; dladdr gives a virtual one. */
static long file_offset(const char *path, long vaddr)
{
	Elf64_Ehdr eh;
	long result = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;

			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != sizeof(ph))
				break;
			if (ph.p_type == PT_LOAD && (uint64_t)vaddr >= ph.p_vaddr &&
			    (uint64_t)vaddr < ph.p_vaddr + ph.p_filesz) {
				result = (long)((uint64_t)vaddr - ph.p_vaddr + ph.p_offset);
				break;
			}
		}
	}
	close(fd);
	return result;
}

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Whether the process's effective set holds capability c. */
static bool has_cap(const struct __user_cap_data_struct data[2], int c)
{
	return data[c / 32].effective & (1u << (c % 32));
}

/* Loading the programs needs CAP_BPF and CAP_PERFMON (Linux 5.8 on) or CAP_SYS_ADMIN; attaching
 * the control uprobes needs CAP_SYS_ADMIN whatever the kernel. Without it every step fails with
 * EPERM or EACCES somewhere less telling (tracefs looks unmounted to a process that may not read
 * it): say which privilege is missing, before trying. */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0; /* unknown: let the loading say what fails */
	if (has_cap(data, CAP_SYS_ADMIN))
		return 0;
	logmsg(LOG_WARN,
	       "libebpf: this process (uid %u) lacks CAP_SYS_ADMIN%s: attaching the uprobes needs it "
	       "(CAP_BPF and CAP_PERFMON load the programs but do not attach them); run it as root, or "
	       "grant CAP_SYS_ADMIN\n",
	       (unsigned)getuid(), has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON) ? "" : " (and CAP_BPF, CAP_PERFMON)");
	return -EPERM;
}

/* libbpf finds tracepoints through tracefs: /sys/kernel/tracing, or the debugfs copy. */
static int ensure_tracefs(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[PATH_MAX];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events/syscalls", dirs[i]);
		if (!access(path, F_OK))
			return 0;
		if (errno == EACCES) {
			logmsg(LOG_WARN,
			       "libebpf: %s is there but this process may not read it (permission denied): run it as "
			       "root, or grant CAP_DAC_READ_SEARCH\n",
			       dirs[i]);
			return -EACCES;
		}
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events", dirs[i]);
		if (!access(path, F_OK)) {
			logmsg(LOG_WARN,
			       "libebpf: %s has no syscalls events: the kernel lacks syscall tracepoints "
			       "(CONFIG_FTRACE_SYSCALLS), which this library needs\n",
			       dirs[i]);
			return -ENOTSUP;
		}
	}
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		int err = errno;
		logmsg(LOG_WARN,
		       "libebpf: tracefs is not mounted and mounting it failed (%s); run "
		       "'mount -t tracefs nodev /sys/kernel/tracing' as root, or mount it into the container\n",
		       strerror(err));
		return -err;
	}
	logmsg(LOG_INFO, "libebpf: mounted tracefs at /sys/kernel/tracing\n");
	if (access("/sys/kernel/tracing/events/syscalls", F_OK)) {
		logmsg(LOG_WARN, "libebpf: the kernel lacks syscall tracepoints (CONFIG_FTRACE_SYSCALLS)\n");
		return -ENOTSUP;
	}
	return 0;
}

static void report_load_failure(int err)
{
	const char *begin = strstr(g.load_log, "-- BEGIN PROG LOAD LOG --");
	const char *tail;

	if (err == -EPERM || err == -EACCES) {
		logmsg(LOG_WARN,
		       "libebpf: loading BPF programs was refused (%s): run as root, or grant CAP_BPF, CAP_PERFMON "
		       "and CAP_SYS_RESOURCE (CAP_SYS_ADMIN before Linux 5.8)\n",
		       strerror(-err));
		return;
	}
	if (!begin) {
		logmsg(LOG_WARN, "libebpf: loading BPF programs failed: %s\n", strerror(-err));
		return;
	}
	/* The verifier's verdict is at the end of its log. */
	tail = g.load_log + g.load_log_len;
	for (int lines = 0; tail > begin && lines < 16; tail--)
		if (tail[-1] == '\n' && ++lines == 16)
			break;
	logmsg(LOG_WARN, "libebpf: the kernel verifier rejected a program (%s); end of its log:\n%s\n", strerror(-err),
	       tail);
}

/* The three sets of syscall programs (netobserver.bpf.c), cheapest first. */
enum hook {
	HOOK_TP_BTF,     /* tp_btf/sys_exit and BPF ring buffers: 5.8+ with built-in BTF */
	HOOK_RAW_TP,     /* raw_tp/sys_exit: a raw tracepoint, 4.17+ */
	HOOK_TRACEPOINT, /* syscalls:sys_enter_X / sys_exit_X: a perf trace record per call */
	NUM_HOOKS,
};

static const char *const hook_names[NUM_HOOKS] = { "tp_btf", "raw_tp", "tracepoint" };
/* Section prefix of each set's programs (its tail-call targets included). */
static const char *const hook_sections[NUM_HOOKS] = { "tp_btf/", "raw_tp", "tracepoint" };

/* The fast socket test of the tp_btf exit needs bpf_get_current_task_btf (5.11) and the
 * bpf_rdonly_cast kfunc (6.2) in the running kernel's BTF. */
static bool btf_fast_path(void)
{
	struct btf *vmlinux;
	bool ok;

	/* NETOBSERVER_BPF_PORTABLE=1 forces the portable build (tests cover both). */
	if (getenv("NETOBSERVER_BPF_PORTABLE") ||
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, NULL) != 1)
		return false;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return false;
	ok = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
	btf__free(vmlinux);
	return ok;
}

#ifndef BPF_FUNC_loop
#define BPF_FUNC_loop 181
#endif

/* The HTTP header scan of the tp_btf set (and of the TLS probes with it) runs on bpf_loop (5.17+)
 * where the kernel has it: the verifier checks its callback once instead of walking 4093 bytes.
 * NETOBSERVER_BPF_NO_LOOP=1 forces the byte loop of older kernels (tests cover both). */
static bool scan_on_bpf_loop(enum hook h)
{
	return h == HOOK_TP_BTF && !getenv("NETOBSERVER_BPF_NO_LOOP") &&
	       libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, (enum bpf_func_id)BPF_FUNC_loop, NULL) == 1;
}

/* The first hook set worth trying: tp_btf needs the kernel's own BTF (a kernel that needs a BTF file
 * has no tp_btf) with the sys_exit tracepoint in it (libbpf cannot probe the tracing program type
 * without an attach target: a refusal at load falls back) and ring buffers (5.8), raw_tp a kernel
 * that knows its type. */
static enum hook first_hook(const char *btf_path)
{
	struct btf *vmlinux;
	bool btf_tp = false;

	if (!btf_path && (vmlinux = btf__load_vmlinux_btf())) {
		btf_tp = btf__find_by_name_kind(vmlinux, "btf_trace_sys_exit", BTF_KIND_TYPEDEF) > 0 &&
			 libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
		btf__free(vmlinux);
	}
	if (btf_tp)
		return HOOK_TP_BTF;
	return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL) == 1 ? HOOK_RAW_TP : HOOK_TRACEPOINT;
}

/* The process programs of hook set h (the extension): raw tracepoints with the set's transport, or
 * the plain sched tracepoints with the per-syscall set (which also stands for "no raw tracepoints"). */
static void proc_programs(enum hook h, struct bpf_program *out[3])
{
	struct netobserver_bpf *k = g.skel;

	out[0] = h == HOOK_TP_BTF ? k->progs.proc_exec_raw_rb : h == HOOK_RAW_TP ? k->progs.proc_exec_raw : k->progs.proc_exec_tp;
	out[1] = h == HOOK_TP_BTF ? k->progs.proc_fork_raw_rb : h == HOOK_RAW_TP ? k->progs.proc_fork_raw : k->progs.proc_fork_tp;
	out[2] = h == HOOK_TP_BTF ? k->progs.proc_exit_raw_rb : h == HOOK_RAW_TP ? k->progs.proc_exit_raw : k->progs.proc_exit_tp;
}

static bool is_proc_program(const struct bpf_program *prog)
{
	return !strncmp(bpf_program__name(prog), "proc_", 5);
}

/* The TLS probes (and their tail target) come in two builds, NAME_rb for the ring buffers of the
 * tp_btf set and NAME for the perf buffers of the others: only the set's build is loaded. */
static bool uprobe_build_wanted(const struct bpf_program *prog, enum hook h)
{
	const char *name = bpf_program__name(prog);
	size_t n = strlen(name);
	char rb[128];

	if (n > 3 && !strcmp(name + n - 3, "_rb"))
		return h == HOOK_TP_BTF;
	if (snprintf(rb, sizeof(rb), "%s_rb", name) < (int)sizeof(rb) &&
	    bpf_object__find_program_by_name(g.skel->obj, rb))
		return h != HOOK_TP_BTF;
	return true;
}

/* The Go crypto/tls probes read their binary's field offsets from the attach cookie
 * (bpf_get_attach_cookie on a uprobe: 5.15+); without it they are not loaded, and attaching them
 * fails with ENOENT. */
static bool go_tls_loadable(void)
{
	static int known = -1;

	if (known < 0) {
		known = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) == 1;
		if (!known)
			logmsg(LOG_INFO, "libebpf: the kernel has no bpf_get_attach_cookie for uprobes (5.15+): "
					 "no Go crypto/tls probes\n");
	}
	return known;
}

/* Loads the programs of one hook set (and the uprobes); of the tp_btf entry, one socket test; of the
 * uprobe that emits events, the build of the set's transport. */
static void select_programs(enum hook h, bool fast, bool loop)
{
	struct bpf_program *prog, *procs[3];

	bpf_object__for_each_program(prog, g.skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);
		bool load = !strncmp(sec, "uprobe", 6) || !strncmp(sec, hook_sections[h], strlen(hook_sections[h]));

		if (prog == g.skel->progs.btf_sys_exit)
			load = load && fast;
		else if (prog == g.skel->progs.btf_sys_exit_portable)
			load = load && !fast;
		else if (prog == g.skel->progs.http_head_btf)
			load = load && !loop;
		else if (prog == g.skel->progs.http_loop_btf)
			load = load && loop;
		else if (prog == g.skel->progs.http_agg_btf)
			load = load && loop && (agg_asked & 1u << (ProtoHTTP - 1));
		else if (prog == g.skel->progs.redis_agg_btf)
			load = load && loop && (agg_asked & 1u << (ProtoRedis - 1));
		else if (prog == g.skel->progs.http_head_tls_rb)
			load = h == HOOK_TP_BTF && !loop;
		else if (prog == g.skel->progs.http_loop_tls_rb)
			load = h == HOOK_TP_BTF && loop;
		else if (prog == g.skel->progs.up_update_conn_addr_rb)
			load = h == HOOK_TP_BTF;
		else if (prog == g.skel->progs.up_update_conn_addr)
			load = h != HOOK_TP_BTF;
		else if (is_proc_program(prog))
			load = false; /* below */
		else if (!strncmp(bpf_program__name(prog), "tls_go_", 7))
			load = go_tls_loadable() && uprobe_build_wanted(prog, h);
		else if (!strncmp(sec, "uprobe", 6))
			load = uprobe_build_wanted(prog, h);
		bpf_program__set_autoload(prog, load);
		if (!strncmp(sec, "uprobe", 6) && g.uprobe_multi && (g.uprobe_multi_pid || !is_stub_program(prog)))
			bpf_program__set_expected_attach_type(prog, (enum bpf_attach_type)ATTACH_UPROBE_MULTI);
	}
	proc_programs(h, procs);
	for (int i = 0; i < 3; i++)
		bpf_program__set_autoload(procs[i], true);
	/* The ring buffer maps do not exist before 5.8 (5.5 for a memory-mapped array). */
	bpf_map__set_autocreate(g.skel->maps.rings, h == HOOK_TP_BTF);
	bpf_map__set_autocreate(g.skel->maps.ring_lost, h == HOOK_TP_BTF);
	if (libbpf_num_possible_cpus() > 0)
		bpf_map__set_max_entries(g.skel->maps.scratch_map, (uint32_t)libbpf_num_possible_cpus());
	if (h == HOOK_TP_BTF && libbpf_num_possible_cpus() > 0)
		bpf_map__set_max_entries(g.skel->maps.rings,
					 NETOBSERVER_NUM_RINGS * (uint32_t)libbpf_num_possible_cpus());
	switch (h) {
	case HOOK_TP_BTF:
		g.tail_progs[TAIL_DATA_MAIN] = g.skel->progs.data_main_btf;
		g.tail_progs[TAIL_EMIT_SEGMENTS] = g.skel->progs.emit_segments_btf;
		g.tail_progs[TAIL_MMSG_COUNT] = g.skel->progs.mmsg_count_btf;
		g.tail_progs[TAIL_HTTP_HEAD] = loop ? g.skel->progs.http_loop_btf : g.skel->progs.http_head_btf;
		g.tail_progs[TAIL_MEMC_HEAD] = g.skel->progs.memc_head_btf;
		/* Kernel aggregation needs the bpf_loop scan. */
		g.tail_progs[TAIL_HTTP_AGG] =
			loop && (agg_asked & 1u << (ProtoHTTP - 1)) ? g.skel->progs.http_agg_btf : NULL;
		g.tail_progs[TAIL_REDIS_AGG] =
			loop && (agg_asked & 1u << (ProtoRedis - 1)) ? g.skel->progs.redis_agg_btf : NULL;
		break;
	case HOOK_RAW_TP:
		g.tail_progs[TAIL_DATA_MAIN] = g.skel->progs.data_main_raw;
		g.tail_progs[TAIL_EMIT_SEGMENTS] = g.skel->progs.emit_segments_raw;
		g.tail_progs[TAIL_MMSG_COUNT] = g.skel->progs.mmsg_count_raw;
		g.tail_progs[TAIL_HTTP_HEAD] = NULL;
		g.tail_progs[TAIL_MEMC_HEAD] = NULL;
		g.tail_progs[TAIL_HTTP_AGG] = NULL;
		g.tail_progs[TAIL_REDIS_AGG] = NULL;
		break;
	default:
		g.tail_progs[TAIL_DATA_MAIN] = g.skel->progs.data_main;
		g.tail_progs[TAIL_EMIT_SEGMENTS] = g.skel->progs.emit_segments;
		g.tail_progs[TAIL_MMSG_COUNT] = g.skel->progs.mmsg_count;
		/* The header and line scans need bounded loops: tp_btf only. */
		g.tail_progs[TAIL_HTTP_HEAD] = NULL;
		g.tail_progs[TAIL_MEMC_HEAD] = NULL;
		g.tail_progs[TAIL_HTTP_AGG] = NULL;
		g.tail_progs[TAIL_REDIS_AGG] = NULL;
		break;
	}
}

static bool is_tail_program(const struct bpf_program *prog)
{
	for (int i = 0; i < NETOBSERVER_NUM_TAILS; i++)
		if (prog == g.tail_progs[i])
			return true;
	return false;
}

static struct bpf_map *tail_map(enum hook h)
{
	return h == HOOK_TP_BTF ? g.skel->maps.tails_btf : h == HOOK_RAW_TP ? g.skel->maps.tails_raw : g.skel->maps.tails;
}

/* Opens and loads the object with hook set h; on failure everything is destroyed again. */
static int load_hook(const char *btf_path, enum hook h, bool quiet, bool no_loop)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	bool fast = h == HOOK_TP_BTF && !btf_path && btf_fast_path();
	bool loop = !no_loop && scan_on_bpf_loop(h);
	int err;

	if (h == HOOK_TRACEPOINT) {
		err = ensure_tracefs();
		if (err)
			return err;
	}
	g.skel = netobserver_open(&opts, btf_path != NULL);
	if (!g.skel) {
		err = -errno;
		logmsg(LOG_WARN, "libebpf: opening the embedded BPF object failed: %s\n", strerror(-err));
		return err;
	}
	g.uprobe_multi = uprobe_multi_supported();
	g.uprobe_multi_pid = g.uprobe_multi && kernel_at_least(6, 10);
	select_programs(h, fast, loop);
	g.load_log_len = 0;
	g.load_log[0] = 0;
	g.capture_log = !quiet;
	err = netobserver_bpf__load(g.skel);
	g.capture_log = false;
	if (err) {
		if (!quiet)
			report_load_failure(err);
		netobserver_bpf__destroy(g.skel);
		g.skel = NULL;
		return err;
	}
	g.hook = hook_names[h];
	g.ringbuf = h == HOOK_TP_BTF;
	g.scan_loop = loop;
	logmsg(LOG_INFO, "libebpf: syscall hooks: %s; socket test: %s; HTTP header scan: %s; uprobes: %s\n",
	       h == HOOK_TP_BTF	  ? "tp_btf/sys_exit (BTF raw tracepoint)"
	       : h == HOOK_RAW_TP ? "raw_tp/sys_exit (raw tracepoint)"
				  : "syscalls:sys_enter_X / sys_exit_X (per-syscall tracepoints)",
	       fast ? "BTF pointer walk (direct loads)" : "CO-RE probe reads (6 per syscall)",
	       h != HOOK_TP_BTF ? "none (bodies exported whole)" : loop ? "bpf_loop, 8 bytes a step" : "byte loop",
	       g.uprobe_multi_pid ? "uprobe_multi links"
	       : g.uprobe_multi	  ? "uprobe_multi links (the stubs': perf events, kernel < 6.10)"
				  : "perf events");
	return 0;
}

/* Loads the cheapest hook set the kernel takes, or the one NETOBSERVER_BPF_HOOK names (tp_btf, raw_tp,
 * tracepoint; no fallback then, so the tests run each set for real). */
static int load(const char *btf_path)
{
	const char *forced = getenv("NETOBSERVER_BPF_HOOK");
	enum hook h;
	int err;

	if (forced && *forced) {
		for (h = 0; h < NUM_HOOKS && strcmp(forced, hook_names[h]); h++)
			;
		if (h == NUM_HOOKS) {
			logmsg(LOG_WARN, "libebpf: NETOBSERVER_BPF_HOOK=%s is none of tp_btf, raw_tp, tracepoint\n", forced);
			return -EINVAL;
		}
		err = load_hook(btf_path, h, false, false);
	} else {
		/* A set the probes allowed can still be refused (a verifier of another vintage): the
		 * next one is tried, and the last one reports why it failed. */
		for (h = first_hook(btf_path);; h++) {
			err = load_hook(btf_path, h, h != HOOK_TRACEPOINT, false);
			/* The bpf_loop build of the header scan is tested on 6.1, 6.12 and 6.18 only: a
			 * verifier of another vintage that refuses it still gets the set with the byte loop. */
			if (err && h == HOOK_TP_BTF && err != -EPERM && err != -EACCES && scan_on_bpf_loop(h)) {
				logmsg(LOG_INFO, "libebpf: the tp_btf syscall hooks did not load (%s); trying them with "
						 "the byte-loop header scan\n", strerror(-err));
				err = load_hook(btf_path, h, true, true);
			}
			if (!err || h == HOOK_TRACEPOINT || err == -EPERM || err == -EACCES)
				break;
			logmsg(LOG_INFO, "libebpf: the %s syscall hooks did not load (%s); trying %s\n", hook_names[h],
			       strerror(-err), hook_names[h + 1]);
		}
		if (err && h != HOOK_TRACEPOINT)
			report_load_failure(err);
	}
	if (err)
		return err;
	if (g.ringbuf) {
		void *lost = mmap(NULL, (size_t)getpagesize(), PROT_READ, MAP_SHARED,
				  bpf_map__fd(g.skel->maps.ring_lost), 0);

		if (lost == MAP_FAILED) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: mapping the ring buffers' loss counters failed: %s\n", strerror(-err));
			return err;
		}
		g.ring_lost = lost;
	}
	/* Before any TLS probe can be attached: a return probe whose tail call finds an empty slot
	 * loses its plaintext (counted). */
	for (uint32_t slot = 0; slot < TAIL_TLS_NUM; slot++) {
		struct bpf_program *prog = slot == TAIL_TLS_PLAINTEXT
						   ? (g.ringbuf ? g.skel->progs.plaintext_tls_rb : g.skel->progs.plaintext_tls)
						   : !g.ringbuf ? NULL
						   : g.scan_loop ? g.skel->progs.http_loop_tls_rb
								 : g.skel->progs.http_head_tls_rb;
		int fd;

		if (!prog)
			continue;
		fd = bpf_program__fd(prog);
		if (bpf_map_update_elem(bpf_map__fd(g.skel->maps.tails_tls), &slot, &fd, BPF_ANY)) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: filling the TLS tail-call table failed: %s\n", strerror(-err));
			return err;
		}
	}
	if (g.tail_progs[TAIL_HTTP_AGG] || g.tail_progs[TAIL_REDIS_AGG]) {
		uint32_t zero = 0;

		/* Before the program can run: its latency histogram's buckets are the observer's. */
		if (bpf_map_update_elem(bpf_map__fd(g.skel->maps.agg_latency_bounds), &zero, netobserver_latency_bounds,
					BPF_ANY)) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: filling the latency bounds failed: %s\n", strerror(-err));
			return err;
		}
	}
	for (uint32_t i = 0; i < NETOBSERVER_NUM_TAILS; i++) {
		int fd;

		if (!g.tail_progs[i])
			continue;
		fd = bpf_program__fd(g.tail_progs[i]);
		if (bpf_map_update_elem(bpf_map__fd(tail_map(h)), &i, &fd, BPF_ANY)) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: filling the tail-call table failed: %s\n", strerror(-err));
			return err;
		}
	}
	return 0;
}

static int attach_stubs(const char *so, const long offsets[4])
{
	struct bpf_program *progs[4] = { g.skel->progs.up_cleanup_dog,
					 g.ringbuf ? g.skel->progs.up_update_conn_addr_rb : g.skel->progs.up_update_conn_addr,
					 g.skel->progs.up_disable_process, g.skel->progs.up_update_conn_role };
	static const char *const names[4] = { "ebpf_cleanup_dog", "ebpf_update_conn_addr", "ebpf_disable_process",
					       "ebpf_update_conn_role" };

	for (int i = 0; i < 4; i++) {
		long off = offsets[i] > 0 ? file_offset(so, offsets[i]) : -1;

		if (off < 0) {
			logmsg(LOG_WARN, "libebpf: offset %ld of %s is not inside a loadable segment of %s\n",
			       offsets[i], names[i], so);
			return -EINVAL;
		}
		/* Only this process calls the stubs, and only its calls matter. */
		int err = attach_uprobe(&g.uprobes[i], progs[i], getpid(), so, (uint64_t)off, false, 0);

		if (err) {
			logmsg(LOG_WARN, "libebpf: attaching the uprobe on %s (%s+0x%lx) failed: %s\n", names[i], so, off,
			       strerror(-err));
			return err;
		}
	}
	return 0;
}

EXPORT int32_t ebpf_init(char *btf, int32_t btf_size, char *so, int32_t so_size, long off_cleanup_dog,
			 long off_update_conn_addr, long off_disable_process, long off_update_conn_role)
{
	const long offsets[4] = { off_cleanup_dog, off_update_conn_addr, off_disable_process, off_update_conn_role };
	char so_path[PATH_MAX], btf_path[PATH_MAX];
	const char *custom_btf = NULL;
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct utsname uts;
	int err;

	libbpf_set_print(libbpf_log);
	if (g.skel) {
		logmsg(LOG_INFO, "libebpf: ebpf_init called again; unloading the previous instance\n");
		destroy_all();
	}
	if (g.epfd < 0 && (g.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		logmsg(LOG_WARN, "libebpf: epoll_create1 failed: %s; netobserver_wait_events will fail and the consumer poll on its timer only\n",
		       strerror(errno));
	if (g.epfd >= 0 && g.wakefd < 0) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

		if ((g.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0) {
			ev.data.fd = g.wakefd;
			if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.wakefd, &ev)) {
				close(g.wakefd);
				g.wakefd = -1;
			}
		}
		if (g.wakefd < 0)
			logmsg(LOG_WARN, "libebpf: the wake eventfd failed: %s; a consumer's stop waits for its sleep\n",
			       strerror(errno));
	}
	uname(&uts);
	if (!so || so_size <= 0 || so_size >= (int32_t)sizeof(so_path)) {
		logmsg(LOG_WARN, "libebpf: ebpf_init needs the path of the loaded libebpf.so (got %s)\n",
		       so ? "an empty or too long path" : "NULL");
		return -EINVAL;
	}
	memcpy(so_path, so, (size_t)so_size);
	so_path[so_size] = 0;

	if (btf && btf_size > 0) {
		if (btf_size >= (int32_t)sizeof(btf_path))
			return -EINVAL;
		memcpy(btf_path, btf, (size_t)btf_size);
		btf_path[btf_size] = 0;
		if (!readable(btf_path)) {
			logmsg(LOG_WARN, "libebpf: the BTF file %s given to ebpf_init cannot be read: %s\n", btf_path,
			       strerror(errno));
			return -ENOENT;
		}
		custom_btf = btf_path;
	} else if (!readable("/sys/kernel/btf/vmlinux")) {
		snprintf(btf_path, sizeof(btf_path), "/usr/lib/vmlinux-%s", uts.release);
		if (!readable(btf_path)) {
			logmsg(LOG_WARN,
			       "libebpf: no kernel BTF: /sys/kernel/btf/vmlinux is missing (kernel built without "
			       "CONFIG_DEBUG_INFO_BTF) and so is %s; pass the path of a BTF file for kernel %s to "
			       "ebpf_init (e.g. from BTFHub)\n",
			       btf_path, uts.release);
			return -ENOENT;
		}
		custom_btf = btf_path;
	}

	err = check_privileges();
	if (err)
		return err;

	/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. */
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited))
		logmsg(LOG_INFO, "libebpf: raising RLIMIT_MEMLOCK failed (%s); loading may fail on kernels < 5.11\n",
		       strerror(errno));

	err = load(custom_btf);
	if (!err)
		err = attach_stubs(so_path, offsets);
	if (err) {
		destroy_all();
		return err;
	}
	g.owner = getpid();
	push_config();
	logmsg(LOG_INFO, "libebpf: %s loaded on Linux %s (BTF %s); syscall hooks: %s; transport: %s\n",
	       netobserver_libebpf_version(), uts.release, custom_btf ? custom_btf : "/sys/kernel/btf/vmlinux", g.hook,
	       g.ringbuf ? "per-CPU BPF ring buffers" : "per-CPU perf buffers");
	return 0;
}

EXPORT int32_t ebpf_start(void)
{
	struct bpf_program *prog;
	int err = 0, n = 0;

	if (!g.skel) {
		logmsg(LOG_WARN, "libebpf: ebpf_start before a successful ebpf_init\n");
		return -EINVAL;
	}
	if (g.started) {
		/* iLogtail calls ebpf_start on every config reload. The settings are in the config map
		 * already, so unless a buffer size changed, keep programs and buffers: reopening them
		 * would throw away the events not yet polled. */
		if (g.ntracepoints && !memcmp(g.pages, g.open_pages, sizeof(g.pages)) &&
		    g.proc_attached == (g.proc_fn != NULL)) {
			push_config();
			logmsg(LOG_INFO, "libebpf: ebpf_start while running: settings applied, buffers kept\n");
			return 0;
		}
		logmsg(LOG_INFO, "libebpf: ebpf_start while running with new buffer sizes or detached; reopening (unpolled events are lost)\n");
		detach_all();
	}
	for (int i = 0; i < NUM_BUFFERS && i < NETOBSERVER_NUM_RINGS; i++)
		g.cfg.ring_wake[i] = (unsigned int)(ring_bytes(g.pages[i]) / 4);
	push_config();
	for (int i = 0; i < NUM_BUFFERS && !err; i++) {
		if (i == PROC_HAND && !g.proc_fn)
			continue;
		err = g.ringbuf ? open_rings(&g.buffers[i], i, g.pages[i], buffer_names[i])
				: open_buffer(&g.buffers[i], buffer_map_fd(i), g.pages[i], buffer_names[i]);
	}
	if (err)
		goto fail;

	bpf_object__for_each_program(prog, g.skel->obj) n++;
	g.tracepoints = calloc((size_t)n, sizeof(*g.tracepoints));
	if (!g.tracepoints) {
		err = -ENOMEM;
		goto fail;
	}
	bpf_object__for_each_program(prog, g.skel->obj)
	{
		struct bpf_link *link;

		/* Tail-call targets run from the exit programs, the uprobes are attached at init;
		 * the programs of the other hook sets were never loaded. */
		if (!bpf_program__autoload(prog) || !strncmp(bpf_program__section_name(prog), "uprobe", 6) ||
		    is_tail_program(prog) || (is_proc_program(prog) && !g.proc_fn))
			continue;
		link = bpf_program__attach(prog);
		if (!link) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: attaching %s failed: %s\n", bpf_program__section_name(prog),
			       strerror(-err));
			goto fail;
		}
		g.tracepoints[g.ntracepoints++] = link;
	}
	g.started = true;
	g.proc_attached = g.proc_fn != NULL;
	memcpy(g.open_pages, g.pages, sizeof(g.pages));
	if (g.ringbuf)
		logmsg(LOG_INFO,
		       "libebpf: started: %d %s programs attached, ring buffers of %zu/%zu/%zu KiB per CPU (ctrl/data/stats)\n",
		       g.ntracepoints, g.hook, ring_bytes(g.pages[CTRL_HAND]) >> 10, ring_bytes(g.pages[DATA_HAND]) >> 10,
		       ring_bytes(g.pages[STAT_HAND]) >> 10);
	else
		logmsg(LOG_INFO,
		       "libebpf: started: %d %s programs attached, perf buffers of %d/%d/%d pages per CPU (ctrl/data/stats)\n",
		       g.ntracepoints, g.hook, g.pages[CTRL_HAND], g.pages[DATA_HAND], g.pages[STAT_HAND]);
	if (g.proc_attached)
		logmsg(LOG_INFO, "libebpf: process events on: sched_process_exec/fork/exit as %s, %d pages per CPU\n",
		       strcmp(g.hook, "tracepoint") ? "raw tracepoints" : "tracepoints", g.pages[PROC_HAND]);
	return 0;
fail:
	detach_all();
	return err;
}

/* netobserver's stop extension: the programs stop producing, the buffers stay pollable, so that
 * the caller can poll until a poll comes back empty and then ebpf_stop without losing an event.
 * ebpf_start after it reattaches (through the reopening path). Alibaba's library has no such
 * call: its callers can only poll until a short poll and lose what is written after it. */
EXPORT void netobserver_detach(void)
{
	if (!g.started || !g.ntracepoints)
		return;
	detach_programs();
	detach_ext_uprobes();
	logmsg(LOG_INFO, "libebpf: programs detached; buffers kept for the last polls\n");
}

EXPORT int32_t ebpf_stop(void)
{
	detach_ext_uprobes();
	detach_all();
	return 0;
}

/* netobserver's uprobe extension: one of the library's attachable programs (a name starting with
 * "tls_"; the set's _rb build when it uses ring buffers) on the instruction at a file offset of a
 * file, for every process that maps it, now and later, with an attach cookie (0: none). */
static int32_t attach_ext_uprobe(const char *program, const char *path, uint64_t offset, bool retprobe, uint64_t cookie)
{
	struct bpf_program *prog = NULL;
	char name[128];
	int slot, err;

	if (!g.skel || !program || !path || strncmp(program, "tls_", 4))
		return -EINVAL;
	if (g.ringbuf && snprintf(name, sizeof(name), "%s_rb", program) < (int)sizeof(name))
		prog = bpf_object__find_program_by_name(g.skel->obj, name);
	if (!prog)
		prog = bpf_object__find_program_by_name(g.skel->obj, program);
	if (!prog || strncmp(bpf_program__section_name(prog), "uprobe", 6) || !bpf_program__autoload(prog) ||
	    bpf_program__fd(prog) < 0)
		return -ENOENT;
	for (slot = 0; slot < NETOBSERVER_MAX_EXT_UPROBES && g.ext_uprobes[slot].used; slot++)
		;
	if (slot == NETOBSERVER_MAX_EXT_UPROBES)
		return -ENOSPC;
	/* Data syscalls look up their thread's SSL call (tls_nested) only from the first OpenSSL
	 * entry probe on, so that an observer without TLS probes pays nothing for them. Before the
	 * attach: the first call's nested syscall must find the flag set. */
	if (!g.cfg.tls_calls && !strncmp(program, "tls_openssl", 11) && strstr(program, "_enter")) {
		g.cfg.tls_calls = 1;
		push_config();
	}
	/* pid -1: every process, those that map the file later included (the probe is on the inode). */
	err = attach_uprobe(&g.ext_uprobes[slot], prog, -1, path, offset, retprobe, cookie);
	return err ? err : slot;
}

EXPORT int32_t netobserver_attach_uprobe(const char *program, const char *path, uint64_t offset, int32_t retprobe)
{
	return attach_ext_uprobe(program, path, offset, retprobe != 0, 0);
}

/* An entry probe with an attach cookie the program reads (the Go crypto/tls probes). */
EXPORT int32_t netobserver_attach_uprobe_cookie(const char *program, const char *path, uint64_t offset,
						uint64_t cookie)
{
	return attach_ext_uprobe(program, path, offset, false, cookie);
}

EXPORT int32_t netobserver_detach_uprobe(int32_t id)
{
	if (id < 0 || id >= NETOBSERVER_MAX_EXT_UPROBES || !g.ext_uprobes[id].used)
		return -ENOENT;
	close_uprobe(&g.ext_uprobes[id]);
	return 0;
}

/* ---- kernel aggregation extension (include/libebpf.h) ---------------------------------------- */

EXPORT int32_t netobserver_kernel_aggregation2(uint32_t protocol_mask)
{
	if (protocol_mask & ~AGG_PROTOCOLS)
		return -EOPNOTSUPP;
	if (!g.skel) {
		/* Before ebpf_init: whether to load the program at all (below). */
		agg_asked = protocol_mask;
		return 0;
	}
	/* Each protocol's program is loaded only when it was asked for before ebpf_init. */
	if (((protocol_mask & 1u << (ProtoHTTP - 1)) && !g.tail_progs[TAIL_HTTP_AGG]) ||
	    ((protocol_mask & 1u << (ProtoRedis - 1)) && !g.tail_progs[TAIL_REDIS_AGG])) {
		logmsg(LOG_WARN, "libebpf: kernel aggregation needs the tp_btf hook set with the bpf_loop header scan "
				 "(Linux 5.17+) and each protocol to be asked for before ebpf_init; the %s set is "
				 "loaded%s: refused, data is captured as before\n",
		       g.hook, (protocol_mask & ~agg_asked) ? " without it" : "");
		return -EOPNOTSUPP;
	}
	g.cfg.agg_mask = protocol_mask;
	push_config();
	logmsg(LOG_INFO, "libebpf: kernel aggregation %s%s%s\n", protocol_mask ? "on for" : "off",
	       (protocol_mask & 1u << (ProtoHTTP - 1)) ? " HTTP/1.x" : "",
	       (protocol_mask & 1u << (ProtoRedis - 1)) ? " Redis" : "");
	return 0;
}

/* The requests the aggregation state machine holds pending once the programs are detached
 * (netobserver_detach, ebpf_stop): no response will come for them (0 while attached: they are
 * still in flight). */
static uint64_t pending_at_stop(uint32_t protocol)
{
	struct agg_conn *a = malloc(sizeof(*a));
	int fd = bpf_map__fd(g.skel->maps.agg_conns);
	uint64_t key, next, n = 0;
	const uint64_t *prev = NULL;

	if (!a || g.ntracepoints) {
		free(a);
		return 0;
	}
	for (; !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		if (!bpf_map_lookup_elem(fd, &key, a) && a->state == AGG_PENDING && a->key.protocol == protocol)
			n++;
	}
	free(a);
	return n;
}

/* The agg_entries key of a call key (its number in agg_index); -1 with errno (ENOENT: not there). */
static int agg_entry_key_of(const struct netobserver_agg_key *k, struct agg_entry_key *out)
{
	uint32_t slot;

	if (bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.agg_index), k, &slot))
		return -1;
	*out = (struct agg_entry_key){.conn = k->conn, .slot = slot};
	return 0;
}

EXPORT int32_t netobserver_read_aggregates2(const struct netobserver_agg_key *after, struct netobserver_agg_key *keys,
					   struct netobserver_agg_value *values, int32_t max, uint64_t *counters,
					   int32_t ncounters)
{
	int ncpus = libbpf_num_possible_cpus();
	struct agg_entry_key key, next, *prev = NULL;
	struct agg_entry entry;
	uint64_t *cnt;
	int fd, n = 0;

	if (!g.skel || ncpus <= 0 || max < 0 || (max && (!keys || !values)))
		return -EINVAL;
	cnt = calloc((size_t)ncpus, sizeof(*cnt));
	if (!cnt)
		return -ENOMEM;
	for (uint32_t i = 0; counters && i < (uint32_t)ncounters && i < NETOBSERVER_AGG_NUM_COUNTERS; i++) {
		counters[i] = 0;
		if (i == NETOBSERVER_AGG_PENDING_AT_STOP)
			counters[i] = pending_at_stop(ProtoHTTP);
		else if (i == NETOBSERVER_AGG_PENDING_AT_STOP_REDIS)
			counters[i] = pending_at_stop(ProtoRedis);
		else if (!bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.agg_counters), &i, cnt))
			for (int c = 0; c < ncpus; c++)
				counters[i] += cnt[c];
	}
	free(cnt);
	fd = bpf_map__fd(g.skel->maps.agg_entries);
	/* The map is keyed by connection and key number (struct agg_entry_key): after's number is in
	 * agg_index. A key not found there (deleted) starts from the first entry, as the map's own
	 * next-key does for a key it does not hold. */
	if (after && !agg_entry_key_of(after, &key))
		prev = &key;
	for (; n < max && !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &entry))
			continue; /* deleted meanwhile: never by the kernel */
		keys[n] = entry.key;
		values[n++] = entry.v;
	}
	if (n < max && errno != ENOENT)
		return -errno;
	return n;
}

EXPORT int32_t netobserver_delete_aggregates2(const struct netobserver_agg_key *keys, int32_t n)
{
	int fd, deleted = 0;

	if (!g.skel || n < 0 || (n && !keys))
		return -EINVAL;
	fd = bpf_map__fd(g.skel->maps.agg_entries);
	for (int32_t i = 0; i < n; i++) {
		struct agg_entry_key key;

		if (agg_entry_key_of(&keys[i], &key)) {
			if (errno != ENOENT)
				return -errno;
			continue;
		}
		if (!bpf_map_delete_elem(fd, &key))
			deleted++;
		else if (errno != ENOENT)
			return -errno;
		if (bpf_map_delete_elem(bpf_map__fd(g.skel->maps.agg_index), &keys[i]) && errno != ENOENT)
			return -errno;
	}
	return deleted;
}

/* TLS calls whose plaintext was lost because their connection could not be found. */
EXPORT uint64_t netobserver_tls_unattributed(void)
{
	uint32_t key = TLS_UNATTRIBUTED;
	uint64_t n = 0;

	if (g.skel)
		bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.tls_counters), &key, &n);
	return n;
}

EXPORT int32_t ebpf_get_fd(void)
{
	return g.skel ? bpf_map__fd(g.skel->maps.conn_map) : -1;
}

EXPORT int32_t ebpf_get_next_key(int32_t fd, const void *key, void *next_key)
{
	return bpf_map_get_next_key(fd, key, next_key) ? -1 : 0;
}

EXPORT void ebpf_delete_map_value(void *ids, int32_t count)
{
	struct connect_id_t *p = ids;

	if (g.skel) {
		for (int32_t i = 0; p && i < count; i++)
			report_final((uint64_t)p[i].tgid << 32 | (uint32_t)p[i].fd, p[i].tgid);
	}

	for (int32_t done = 0; p && done < count; done += NETOBSERVER_CLEANUP_BATCH) {
		int32_t n = count - done < NETOBSERVER_CLEANUP_BATCH ? count - done : NETOBSERVER_CLEANUP_BATCH;
		ebpf_cleanup_dog(p + done, n);
	}
}
