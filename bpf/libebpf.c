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
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#include "libebpf.h"
#include "shared.h"
#include "netobserver.skel.h"

#define EXPORT __attribute__((visibility("default")))

#ifndef NETOBSERVER_VERSION
#define NETOBSERVER_VERSION "dev"
#endif

#define LOG_WARN 0
#define LOG_INFO 1
#define LOG_DEBUG 2

#define NUM_BUFFERS 3
#define DEFAULT_PAGES 128
/* A perf record's size field is 16 bits: no record is larger, wrapped ones are copied here. */
#define MAX_RECORD 65536

/* One per-CPU perf ring. */
struct ring {
	int fd;
	int cpu;
	void *base;
	size_t data_size;
};

struct buffer {
	struct ring *rings;
	int nrings;
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

	struct netobserver_config cfg;
	int pages[NUM_BUFFERS];

	struct netobserver_bpf *skel;
	struct bpf_link *uprobes[4];
	struct bpf_link **tracepoints;
	int ntracepoints;
	struct buffer buffers[NUM_BUFFERS];
	bool started;
	pid_t owner; /* the process that loaded everything */

	/* The tail of what libbpf reported while loading, to quote the verifier on failure. */
	char load_log[8192];
	size_t load_log_len;
	bool capture_log;
} g = {
	.cfg = { .tgid_filter = -1, .self_pid = -1, .port_filter = -1, .sampling = DATA_SAMPLE_ALL },
	.pages = { DEFAULT_PAGES, DEFAULT_PAGES, DEFAULT_PAGES },
};

static char record_copy[MAX_RECORD] __attribute__((aligned(8)));

static const char *const buffer_names[NUM_BUFFERS] = { "ctrl", "data", "stats" };

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
		if (v < -1 || v > 511) {
			logmsg(LOG_WARN, "libebpf: PROTOCOL_FILTER %d is neither -1 nor a mask of 9 bits; ignored\n", v);
			return;
		}
		g.cfg.proto_mask = v == -1 ? 0x1ff : (uint32_t)v;
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

		if (opt2 < CTRL_HAND || opt2 > STAT_HAND) {
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
			close(r->fd);
	}
	free(b->rings);
	b->rings = NULL;
	b->nrings = 0;
}

/* One BPF-output perf event per CPU. The library never sleeps on these fds (ebpf_poll_events is
 * non-blocking and reads the ring heads directly), so the wakeup watermark is set to half the ring:
 * the kernel does not queue a wakeup per event. */
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
			.wakeup_watermark = (uint32_t)(pages * page / 2),
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

static void deliver(int which, const struct sample *s)
{
	switch (which) {
	case CTRL_HAND:
		if (g.ctrl_fn && s->size >= sizeof(struct conn_ctrl_event_t))
			g.ctrl_fn(g.ctrl_ctx, (struct conn_ctrl_event_t *)s->data);
		break;
	case DATA_HAND: {
		const struct conn_data_event_attr_t *a = (const void *)s->data;

		if (g.data_fn && s->size >= sizeof(*a) && a->msg_buf_size <= CONN_DATA_MAX_SIZE &&
		    sizeof(*a) + a->msg_buf_size <= s->size)
			g.data_fn(g.data_ctx, (struct conn_data_event_t *)s->data);
		break;
	}
	case STAT_HAND:
		if (g.stats_fn && s->size >= sizeof(struct conn_stats_event_t))
			g.stats_fn(g.stats_ctx, (struct conn_stats_event_t *)s->data);
		break;
	}
}

/* Runs up to budget callbacks from one ring; the slots are released only after their callbacks
 * returned, which is why event pointers are valid during the callback and not after. */
static int drain(struct ring *r, int which, int budget)
{
	struct perf_event_mmap_page *h = r->base;
	char *data = (char *)r->base + getpagesize();
	uint64_t head = __atomic_load_n(&h->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = h->data_tail;
	int n = 0;

	while (tail != head && n < budget) {
		size_t off = tail & (r->data_size - 1);
		struct perf_event_header *eh = (void *)(data + off);
		size_t size = eh->size;

		if (!size)
			break;
		if (off + size > r->data_size) {
			size_t first = r->data_size - off;
			memcpy(record_copy, data + off, first);
			memcpy(record_copy + first, data, size - first);
			eh = (void *)record_copy;
		}
		if (eh->type == PERF_RECORD_SAMPLE) {
			deliver(which, (const struct sample *)eh);
			n++;
		} else if (eh->type == PERF_RECORD_LOST) {
			const struct lost_record *l = (const void *)eh;
			if (g.lost_fn)
				g.lost_fn(g.lost_ctx, (enum callback_type_e)which, l->lost);
			else
				logmsg(LOG_WARN, "libebpf: lost %llu %s events on CPU %d\n",
				       (unsigned long long)l->lost, buffer_names[which], r->cpu);
			n++;
		}
		tail += size;
	}
	__atomic_store_n(&h->data_tail, tail, __ATOMIC_RELEASE);
	return n;
}

EXPORT int32_t ebpf_poll_events(int32_t max_events, int32_t *stop_flag)
{
	int n = 0;

	if (stop_flag && *stop_flag)
		return EBPF_POLL_STOPPED;
	if (!g.started)
		return -EINVAL;
	if (max_events <= 0)
		max_events = INT32_MAX;
	/* Control events first: a consumer should meet a connection before its data. */
	for (int which = 0; which < NUM_BUFFERS && n < max_events; which++) {
		struct buffer *b = &g.buffers[which];
		for (int i = 0; i < b->nrings && n < max_events; i++)
			n += drain(&b->rings[i], which, max_events - n);
	}
	return n;
}

/* ---- init / start / stop ------------------------------------------------------------------- */

static int buffer_map_fd(int which)
{
	struct bpf_map *m = which == CTRL_HAND ? g.skel->maps.ctrl_events
			    : which == DATA_HAND ? g.skel->maps.data_events
						 : g.skel->maps.stats_events;
	return bpf_map__fd(m);
}

static void detach_all(void)
{
	for (int i = 0; i < g.ntracepoints; i++)
		bpf_link__destroy(g.tracepoints[i]);
	free(g.tracepoints);
	g.tracepoints = NULL;
	g.ntracepoints = 0;
	for (int i = 0; i < NUM_BUFFERS; i++)
		close_buffer(&g.buffers[i], g.skel ? buffer_map_fd(i) : -1);
	g.started = false;
}

static void destroy_all(void)
{
	detach_all();
	for (int i = 0; i < 4; i++) {
		bpf_link__destroy(g.uprobes[i]);
		g.uprobes[i] = NULL;
	}
	netobserver_bpf__destroy(g.skel);
	g.skel = NULL;
}

/* Only in the process that loaded: a forked child that exits shares the perf events and maps, and
 * detaching or deleting them there would silence the parent. */
__attribute__((destructor)) static void unload(void)
{
	if (g.skel && g.owner == getpid())
		destroy_all();
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

/* libbpf finds tracepoints through tracefs: /sys/kernel/tracing, or the debugfs copy. */
static int ensure_tracefs(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[PATH_MAX];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events/syscalls", dirs[i]);
		if (!access(path, F_OK))
			return 0;
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

/* The fast socket test of the entry programs needs bpf_get_current_task_btf (5.11) and the
 * bpf_rdonly_cast kfunc (6.2) in the running kernel's BTF; a kernel that needs a BTF file has
 * neither. */
static bool btf_fast_path(const char *btf_path)
{
	struct btf *vmlinux;
	bool ok;

	/* NETOBSERVER_BPF_PORTABLE=1 forces the build that older kernels run (tests cover both). */
	if (btf_path || getenv("NETOBSERVER_BPF_PORTABLE") ||
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, NULL) != 1)
		return false;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return false;
	ok = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
	btf__free(vmlinux);
	return ok;
}

/* Loads one of the two builds of each data syscall entry (enter_X or enter_X_btf). */
static void select_entry_programs(bool fast)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, g.skel->obj)
	{
		const char *name = bpf_program__name(prog);
		size_t len = strlen(name);
		char twin[64];

		if (len < 5 || strcmp(name + len - 4, "_btf") || len - 4 >= sizeof(twin))
			continue;
		memcpy(twin, name, len - 4);
		twin[len - 4] = 0;
		bpf_program__set_autoload(prog, fast);
		bpf_program__set_autoload(bpf_object__find_program_by_name(g.skel->obj, twin), !fast);
	}
	logmsg(LOG_INFO, "libebpf: socket test at syscall entry: %s\n",
	       fast ? "BTF pointer walk (1 probe read)" : "CO-RE probe reads (6 per syscall)");
}

static int load(const char *btf_path)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	const struct bpf_program *tails[NETOBSERVER_NUM_TAILS];
	int err;

	g.skel = netobserver_bpf__open_opts(&opts);
	if (!g.skel) {
		err = -errno;
		logmsg(LOG_WARN, "libebpf: opening the embedded BPF object failed: %s\n", strerror(-err));
		return err;
	}
	select_entry_programs(btf_fast_path(btf_path));
	g.load_log_len = 0;
	g.load_log[0] = 0;
	g.capture_log = true;
	err = netobserver_bpf__load(g.skel);
	g.capture_log = false;
	if (err) {
		report_load_failure(err);
		return err;
	}
	tails[TAIL_DATA_MAIN] = g.skel->progs.data_main;
	tails[TAIL_EMIT_SEGMENTS] = g.skel->progs.emit_segments;
	tails[TAIL_MMSG_COUNT] = g.skel->progs.mmsg_count;
	for (uint32_t i = 0; i < NETOBSERVER_NUM_TAILS; i++) {
		int fd = bpf_program__fd(tails[i]);
		if (bpf_map_update_elem(bpf_map__fd(g.skel->maps.tails), &i, &fd, BPF_ANY)) {
			err = -errno;
			logmsg(LOG_WARN, "libebpf: filling the tail-call table failed: %s\n", strerror(-err));
			return err;
		}
	}
	return 0;
}

static int attach_stubs(const char *so, const long offsets[4])
{
	struct bpf_program *progs[4] = { g.skel->progs.up_cleanup_dog, g.skel->progs.up_update_conn_addr,
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
		/* pid 0: only this process calls the stubs, and only its calls matter. */
		g.uprobes[i] = bpf_program__attach_uprobe(progs[i], false, 0, so, (size_t)off);
		if (!g.uprobes[i]) {
			int err = -errno;
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

	/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. */
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited))
		logmsg(LOG_INFO, "libebpf: raising RLIMIT_MEMLOCK failed (%s); loading may fail on kernels < 5.11\n",
		       strerror(errno));

	err = ensure_tracefs();
	if (!err)
		err = load(custom_btf);
	if (!err)
		err = attach_stubs(so_path, offsets);
	if (err) {
		destroy_all();
		return err;
	}
	g.owner = getpid();
	push_config();
	logmsg(LOG_INFO, "libebpf: %s loaded on Linux %s (BTF %s); transport: per-CPU perf buffers\n",
	       netobserver_libebpf_version(), uts.release, custom_btf ? custom_btf : "/sys/kernel/btf/vmlinux");
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
		logmsg(LOG_INFO, "libebpf: ebpf_start while running; reattaching\n");
		detach_all();
	}
	push_config();
	for (int i = 0; i < NUM_BUFFERS && !err; i++)
		err = open_buffer(&g.buffers[i], buffer_map_fd(i), g.pages[i], buffer_names[i]);
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

		/* Tail-call targets and uprobes have no tracepoint to attach to; the unused build of
		 * an entry program was never loaded. */
		if (strncmp(bpf_program__section_name(prog), "tracepoint/", 11) || !bpf_program__autoload(prog))
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
	logmsg(LOG_INFO, "libebpf: started: %d tracepoints, perf buffers of %d/%d/%d pages per CPU (ctrl/data/stats)\n",
	       g.ntracepoints, g.pages[CTRL_HAND], g.pages[DATA_HAND], g.pages[STAT_HAND]);
	return 0;
fail:
	detach_all();
	return err;
}

EXPORT int32_t ebpf_stop(void)
{
	detach_all();
	return 0;
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

	for (int32_t done = 0; p && done < count; done += NETOBSERVER_CLEANUP_BATCH) {
		int32_t n = count - done < NETOBSERVER_CLEANUP_BATCH ? count - done : NETOBSERVER_CLEANUP_BATCH;
		ebpf_cleanup_dog(p + done, n);
	}
}
