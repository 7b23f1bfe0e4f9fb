#define _GNU_SOURCE
#include "bridge.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Implemented in Go (log.go).
extern void netobsLog(int16_t level, char *msg, int len);

static int print_trampoline(int16_t level, const char *format, va_list args)
{
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), format, args);
	if (n < 0)
		return n;
	int len = n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1;
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	netobsLog(level, msg, len);
	return n;
}

static uint8_t *reserve(struct netobs_batch *b, uint32_t kind, uint32_t size)
{
	size_t need = sizeof(struct netobs_entry) + ((size + 7u) & ~(size_t)7u);
	if (b->cap - b->len < need) {
		size_t cap = b->cap ? b->cap : 1 << 20;
		while (cap - b->len < need)
			cap *= 2;
		uint8_t *grown = realloc(b->buf, cap);
		if (!grown) {
			b->dropped++;
			return NULL;
		}
		b->buf = grown;
		b->cap = cap;
	}
	struct netobs_entry *e = (struct netobs_entry *)(b->buf + b->len);
	e->kind = kind;
	e->size = size;
	b->len += need;
	b->entries++;
	return (uint8_t *)(e + 1);
}

// The library's event pointer is only 4-byte aligned and dies with the callback: every field is
// reached through memcpy, never through the pointer's type.
static void on_ctrl(void *custom, struct conn_ctrl_event_t *ev)
{
	struct netobs_batch *b = custom;
	uint8_t *dst = reserve(b, NETOBS_CTRL, sizeof(*ev));
	if (!dst)
		return;
	memcpy(dst, ev, sizeof(*ev));
	b->ctrl++;
}

static void on_stats(void *custom, struct conn_stats_event_t *ev)
{
	struct netobs_batch *b = custom;
	uint8_t *dst = reserve(b, NETOBS_STATS, sizeof(*ev));
	if (!dst)
		return;
	memcpy(dst, ev, sizeof(*ev));
	b->stats++;
}

static void on_data(void *custom, struct conn_data_event_t *ev)
{
	struct netobs_batch *b = custom;
	struct conn_data_event_attr_t attr;
	memcpy(&attr, ev, sizeof(attr));
	if (attr.msg_buf_size > CONN_DATA_MAX_SIZE) {
		attr.msg_buf_size = CONN_DATA_MAX_SIZE;
		b->oversized++;
	}
	uint8_t *dst = reserve(b, NETOBS_DATA, (uint32_t)sizeof(attr) + attr.msg_buf_size);
	if (!dst)
		return;
	memcpy(dst, &attr, sizeof(attr));
	memcpy(dst + sizeof(attr), (const uint8_t *)ev + sizeof(attr), attr.msg_buf_size);
	b->data++;
	b->payload_bytes += attr.msg_buf_size;
}

static void on_proc(void *custom, struct netobserver_proc_event_t *ev)
{
	struct netobs_batch *b = custom;
	uint8_t *dst = reserve(b, NETOBS_PROC, sizeof(*ev));
	if (!dst)
		return;
	memcpy(dst, ev, sizeof(*ev));
	b->proc++;
}

static void on_lost(void *custom, enum callback_type_e which, uint64_t count)
{
	struct netobs_batch *b = custom;
	struct netobs_lost lost = {.which = (uint32_t)which, .count = count};
	uint8_t *dst = reserve(b, NETOBS_LOST, sizeof(lost));
	if (!dst)
		return;
	memcpy(dst, &lost, sizeof(lost));
	b->lost++;
}

// Slot i of struct libebpf_symbols holds symbol_names[i].
static const char *const symbol_names[LIBEBPF_SYMBOL_COUNT] = LIBEBPF_SYMBOL_NAMES;

// iLogtail's way: the symbol's address minus the base the file was mapped at (= st_value).
static long stub_offset(void *sym)
{
	Dl_info info;
	if (!dladdr(sym, &info) || !info.dli_saddr)
		return -1;
	return (long)((char *)info.dli_saddr - (char *)info.dli_fbase);
}

struct netobs_lib *netobs_open(const char *file, char *err, size_t err_len)
{
	struct netobs_lib *lib = calloc(1, sizeof(*lib));
	if (!lib) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	dlerror();
	lib->handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (!lib->handle) {
		const char *why = dlerror();
		snprintf(err, err_len, "%s", why ? why : "dlopen failed");
		free(lib);
		return NULL;
	}
	Dl_info info;
	void *first = dlsym(lib->handle, symbol_names[0]);
	const char *loaded = first && dladdr(first, &info) && info.dli_fname ? info.dli_fname : file;
	if (!realpath(loaded, lib->path))
		snprintf(lib->path, sizeof(lib->path), "%s", loaded);

	for (size_t i = 0; i < LIBEBPF_SYMBOL_COUNT; i++) {
		void *sym = dlsym(lib->handle, symbol_names[i]);
		if (!sym) {
			snprintf(err, err_len, "symbol %s not found in %s", symbol_names[i], lib->path);
			dlclose(lib->handle);
			free(lib);
			return NULL;
		}
		memcpy((char *)&lib->fn + i * sizeof(void *), &sym, sizeof(sym));
	}
	lib->version = (const char *(*)(void))dlsym(lib->handle, "netobserver_libebpf_version");
	lib->replay_finished = (int (*)(void))dlsym(lib->handle, "netobserver_replay_finished");
	// NETOBSERVER_PROCESS_EVENTS=off leaves the extension unused (diagnostics, comparisons).
	const char *procs = getenv("NETOBSERVER_PROCESS_EVENTS");
	if (!procs || strcmp(procs, "off"))
		lib->setup_process = (void (*)(netobserver_proc_func_t, void *))dlsym(lib->handle, "netobserver_setup_process_func");
	// NETOBSERVER_WAKEUP=off leaves the extension unused: the poller sleeps on its timer only.
	const char *wake = getenv("NETOBSERVER_WAKEUP");
	if (!wake || strcmp(wake, "off")) {
		lib->wait_events = (int32_t (*)(int32_t))dlsym(lib->handle, "netobserver_wait_events");
		lib->wake_events = (int32_t (*)(void))dlsym(lib->handle, "netobserver_wake_events");
	}

	lib->detach = (void (*)(void))dlsym(lib->handle, "netobserver_detach");
	lib->attach_uprobe = (int32_t (*)(const char *, const char *, uint64_t, int32_t))dlsym(lib->handle,
												 "netobserver_attach_uprobe");
	lib->detach_uprobe = (int32_t (*)(int32_t))dlsym(lib->handle, "netobserver_detach_uprobe");
	lib->tls_unattributed = (uint64_t (*)(void))dlsym(lib->handle, "netobserver_tls_unattributed");
	if (!lib->attach_uprobe || !lib->detach_uprobe || !lib->tls_unattributed)
		lib->attach_uprobe = NULL;
	if (lib->attach_uprobe)
		lib->attach_uprobe_cookie = (int32_t (*)(const char *, const char *, uint64_t, uint64_t))dlsym(
			lib->handle, "netobserver_attach_uprobe_cookie");

	lib->kernel_aggregation = (int32_t (*)(uint32_t))dlsym(lib->handle, "netobserver_kernel_aggregation2");
	lib->read_aggregates = (__typeof__(lib->read_aggregates))dlsym(lib->handle, "netobserver_read_aggregates2");
	lib->delete_aggregates =
		(int32_t (*)(const struct netobserver_agg_key *, int32_t))dlsym(lib->handle, "netobserver_delete_aggregates2");
	if (!lib->kernel_aggregation || !lib->read_aggregates || !lib->delete_aggregates)
		lib->kernel_aggregation = NULL;

	void *stubs[4] = {(void *)lib->fn.cleanup_dog, (void *)lib->fn.update_conn_addr,
			  (void *)lib->fn.disable_process, (void *)lib->fn.update_conn_role};
	for (int i = 0; i < 4; i++) {
		lib->offsets[i] = stub_offset(stubs[i]);
		if (lib->offsets[i] < 0) {
			snprintf(err, err_len, "cannot compute the offset of stub %s in %s",
				 symbol_names[LIBEBPF_FIRST_STUB + i], lib->path);
			dlclose(lib->handle);
			free(lib);
			return NULL;
		}
	}
	return lib;
}

int32_t netobs_init(struct netobs_lib *lib, const char *btf)
{
	// iLogtail's order: the print sink first, so that init can report, then the event sinks.
	lib->fn.setup_print(print_trampoline);
	lib->fn.setup_ctrl(on_ctrl, &lib->batch);
	lib->fn.setup_data(on_data, &lib->batch);
	lib->fn.setup_stats(on_stats, &lib->batch);
	lib->fn.setup_lost(on_lost, &lib->batch);
	if (lib->setup_process)
		lib->setup_process(on_proc, &lib->batch);
	return lib->fn.init((char *)btf, btf ? (int32_t)strlen(btf) : 0, lib->path, (int32_t)strlen(lib->path),
			    lib->offsets[0], lib->offsets[1], lib->offsets[2], lib->offsets[3]);
}

int32_t netobs_start(struct netobs_lib *lib)
{
	int32_t rc = lib->fn.start();

	// Loading parses the kernel's BTF and the BPF objects, then frees what it parsed; glibc keeps
	// freed memory mapped unless asked to return it: 6 MiB of the idle observer's RSS here.
	malloc_trim(0);
	return rc;
}

int32_t netobs_stop(struct netobs_lib *lib)
{
	return lib->fn.stop();
}

int netobs_detach(struct netobs_lib *lib)
{
	if (!lib->detach)
		return 0;
	lib->detach();
	return 1;
}

int32_t netobs_attach_uprobe(struct netobs_lib *lib, const char *program, const char *path, uint64_t offset,
			     int32_t retprobe)
{
	if (!lib->attach_uprobe)
		return -ENOSYS;
	return lib->attach_uprobe(program, path, offset, retprobe);
}

int32_t netobs_detach_uprobe(struct netobs_lib *lib, int32_t id)
{
	if (!lib->attach_uprobe)
		return -ENOSYS;
	return lib->detach_uprobe(id);
}

int32_t netobs_attach_uprobe_cookie(struct netobs_lib *lib, const char *program, const char *path, uint64_t offset,
				    uint64_t cookie)
{
	if (!lib->attach_uprobe_cookie)
		return -ENOSYS;
	return lib->attach_uprobe_cookie(program, path, offset, cookie);
}

int netobs_has_uprobes(struct netobs_lib *lib)
{
	return lib->attach_uprobe != NULL;
}

uint64_t netobs_tls_unattributed(struct netobs_lib *lib)
{
	return lib->attach_uprobe ? lib->tls_unattributed() : 0;
}

int32_t netobs_kernel_aggregation(struct netobs_lib *lib, uint32_t mask)
{
	return lib->kernel_aggregation ? lib->kernel_aggregation(mask) : -ENOSYS;
}

int32_t netobs_read_aggregates(struct netobs_lib *lib, const struct netobserver_agg_key *after,
			       struct netobserver_agg_key *keys, struct netobserver_agg_value *values, int32_t max,
			       uint64_t *counters, int32_t ncounters)
{
	return lib->kernel_aggregation ? lib->read_aggregates(after, keys, values, max, counters, ncounters) : -ENOSYS;
}

int32_t netobs_delete_aggregates(struct netobs_lib *lib, const struct netobserver_agg_key *keys, int32_t n)
{
	return lib->kernel_aggregation ? lib->delete_aggregates(keys, n) : -ENOSYS;
}

const char *netobs_version(struct netobs_lib *lib)
{
	return lib->version ? lib->version() : "";
}

int netobs_has_process_events(struct netobs_lib *lib)
{
	return lib->setup_process != NULL;
}

int netobs_finished(struct netobs_lib *lib)
{
	return lib->replay_finished ? lib->replay_finished() : 0;
}

int32_t netobs_get_fd(struct netobs_lib *lib)
{
	return lib->fn.get_fd();
}

void netobs_delete_map_value(struct netobs_lib *lib, void *ids, int32_t count)
{
	lib->fn.delete_map_value(ids, count);
}

void netobs_update_conn_addr(struct netobs_lib *lib, struct connect_id_t *id, union sockaddr_t *addr,
			     uint16_t local_port, bool drop)
{
	lib->fn.update_conn_addr(id, addr, local_port, drop);
}

void netobs_disable_process(struct netobs_lib *lib, uint32_t pid, bool drop)
{
	lib->fn.disable_process(pid, drop);
}

void netobs_update_conn_role(struct netobs_lib *lib, struct connect_id_t *id, enum support_role_e role)
{
	lib->fn.update_conn_role(id, role);
}

void netobs_config(struct netobs_lib *lib, int32_t opt1, int32_t opt2, int32_t value)
{
	void *params[1] = {&value};
	int32_t lens[1] = {sizeof(value)};
	lib->fn.config(opt1, opt2, 1, params, lens);
}

void netobs_idle(int64_t ns)
{
	struct timespec t = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

int netobs_has_wait(struct netobs_lib *lib)
{
	return lib->wait_events != NULL;
}

int32_t netobs_wait(struct netobs_lib *lib, int64_t ns)
{
	if (lib->wait_events) {
		// Rounded up: a sleep cut short would poll more often than asked.
		int32_t rc = lib->wait_events((int32_t)((ns + 999999) / 1000000));
		if (rc >= 0)
			return rc;
	}
	netobs_idle(ns);
	return 0;
}

void netobs_wake(struct netobs_lib *lib)
{
	if (lib->wait_events && lib->wake_events)
		lib->wake_events();
}

int32_t netobs_poll(struct netobs_lib *lib, int32_t max_events)
{
	struct netobs_batch *b = &lib->batch;
	b->len = 0;
	b->entries = b->ctrl = b->data = b->stats = b->lost = b->proc = 0;
	b->payload_bytes = 0;
	return lib->fn.poll_events(max_events, &lib->stop_flag);
}

int32_t netobs_get_next_key(struct netobs_lib *lib, int32_t fd, const uint64_t *key, uint64_t *next, int *err)
{
	errno = 0;
	int32_t rc = lib->fn.get_next_key(fd, key, next);
	*err = rc < 0 ? errno : 0;
	return rc;
}

void netobs_close(struct netobs_lib *lib)
{
	if (!lib)
		return;
	if (lib->handle)
		dlclose(lib->handle);
	free(lib->batch.buf);
	free(lib);
}

struct layout_entry {
	const char *name;
	size_t value;
};

#define OFF(type, field) {#type "." #field, offsetof(struct type, field)}
#define SIZE(type) {#type, sizeof(struct type)}
static const struct layout_entry layout[] = {
	{"sockaddr_t", sizeof(union sockaddr_t)},
	{"sockaddr_t.sa.port", offsetof(union sockaddr_t, sa.port)},
	{"sockaddr_t.in4.addr", offsetof(union sockaddr_t, in4.addr)},
	{"sockaddr_t.in6.addr", offsetof(union sockaddr_t, in6.addr)},
	{"sockaddr_t.in6.scope_id", offsetof(union sockaddr_t, in6.scope_id)},
	SIZE(connect_id_t),
	OFF(connect_id_t, fd),
	OFF(connect_id_t, tgid),
	OFF(connect_id_t, start),
	SIZE(conn_ctrl_event_t),
	OFF(conn_ctrl_event_t, type),
	OFF(conn_ctrl_event_t, ts),
	OFF(conn_ctrl_event_t, conn_id),
	OFF(conn_ctrl_event_t, connect.addr),
	OFF(conn_ctrl_event_t, connect.role),
	OFF(conn_ctrl_event_t, close.wr_bytes),
	OFF(conn_ctrl_event_t, close.rd_bytes),
	SIZE(conn_data_event_attr_t),
	OFF(conn_data_event_attr_t, ts),
	OFF(conn_data_event_attr_t, conn_id),
	OFF(conn_data_event_attr_t, addr),
	OFF(conn_data_event_attr_t, protocol),
	OFF(conn_data_event_attr_t, role),
	OFF(conn_data_event_attr_t, type),
	OFF(conn_data_event_attr_t, direction),
	OFF(conn_data_event_attr_t, syscall_func),
	OFF(conn_data_event_attr_t, pos),
	OFF(conn_data_event_attr_t, org_msg_size),
	OFF(conn_data_event_attr_t, msg_buf_size),
	OFF(conn_data_event_attr_t, try_to_prepend),
	OFF(conn_data_event_attr_t, length_header),
	OFF(conn_data_event_t, msg),
	SIZE(conn_stats_event_t),
	OFF(conn_stats_event_t, ts),
	OFF(conn_stats_event_t, conn_id),
	OFF(conn_stats_event_t, addr),
	OFF(conn_stats_event_t, role),
	OFF(conn_stats_event_t, wr_bytes),
	OFF(conn_stats_event_t, rd_bytes),
	OFF(conn_stats_event_t, wr_pkts),
	OFF(conn_stats_event_t, rd_pkts),
	OFF(conn_stats_event_t, last_output_wr_bytes),
	OFF(conn_stats_event_t, last_output_rd_bytes),
	OFF(conn_stats_event_t, last_output_wr_pkts),
	OFF(conn_stats_event_t, last_output_rd_pkts),
	OFF(conn_stats_event_t, conn_events),
	SIZE(netobserver_proc_event_t),
	OFF(netobserver_proc_event_t, type),
	OFF(netobserver_proc_event_t, tgid),
	OFF(netobserver_proc_event_t, ts),
	OFF(netobserver_proc_event_t, start_ns),
	OFF(netobserver_proc_event_t, ppid),
	OFF(netobserver_proc_event_t, flags),
	OFF(netobserver_proc_event_t, args_size),
	OFF(netobserver_proc_event_t, args_total),
	OFF(netobserver_proc_event_t, cgroup_id),
	OFF(netobserver_proc_event_t, comm),
	OFF(netobserver_proc_event_t, cgroup_parent),
	OFF(netobserver_proc_event_t, cgroup_leaf),
	OFF(netobserver_proc_event_t, args),
	SIZE(netobs_lost),
	OFF(netobs_lost, which),
	OFF(netobs_lost, count),
};

int netobs_layout(int i, const char **name, size_t *value)
{
	if (i < 0 || (size_t)i >= sizeof(layout) / sizeof(layout[0]))
		return 0;
	*name = layout[i].name;
	*value = layout[i].value;
	return 1;
}
