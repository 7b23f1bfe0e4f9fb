// The C half of the cgo layer: dlopen/dlsym of libebpf.so, the print trampoline, and callbacks
// that copy every event into one batch in C memory for the Go poller to take after each poll.
#ifndef NETOBSERVER_CGO_BRIDGE_H
#define NETOBSERVER_CGO_BRIDGE_H

#include "libebpf.h"

enum netobs_kind {
	NETOBS_CTRL = 1,
	NETOBS_DATA = 2,
	NETOBS_STATS = 3,
	NETOBS_LOST = 4,
	NETOBS_PROC = 5, // the optional process extension's events
};

// Each entry of a batch: this header, `size` bytes of the event as the library handed it over,
// then padding to 8 so the next header (and every event) is 8-byte aligned for Go.
struct netobs_entry {
	uint32_t kind;
	uint32_t size;
};

struct netobs_lost {
	uint32_t which; // enum callback_type_e
	uint32_t pad;
	uint64_t count;
};

struct netobs_batch {
	uint8_t *buf;
	size_t len, cap;
	uint32_t entries;
	uint32_t ctrl, data, stats, lost, proc; // entries of each kind
	uint64_t payload_bytes;           // sum of the copied data payloads
	uint64_t oversized;               // data events claiming more than CONN_DATA_MAX_SIZE bytes (clamped)
	uint64_t dropped;                 // events lost because the batch could not grow (out of memory)
};

struct netobs_lib {
	void *handle;
	struct libebpf_symbols fn;
	const char *(*version)(void); // optional: our libraries export it, Alibaba's does not
	int (*replay_finished)(void); // optional: only the replay library has an end
	// optional: the process extension (netobserver_setup_process_func); NULL in Alibaba's library
	void (*setup_process)(netobserver_proc_func_t, void *);
	// optional: the stop extension (netobserver_detach); NULL in Alibaba's library
	void (*detach)(void);
	// optional: the wakeup extension (netobserver_wait_events); NULL in Alibaba's library
	int32_t (*wait_events)(int32_t);
	int32_t (*wake_events)(void); // optional within it (netobserver_wake_events)
	// optional: the uprobe extension (netobserver_attach_uprobe and co.); NULL in Alibaba's library
	int32_t (*attach_uprobe)(const char *, const char *, uint64_t, int32_t);
	int32_t (*detach_uprobe)(int32_t);
	uint64_t (*tls_unattributed)(void);
	// optional within it: netobserver_attach_uprobe_cookie (the Go TLS probes)
	int32_t (*attach_uprobe_cookie)(const char *, const char *, uint64_t, uint64_t);
	// optional: the kernel aggregation extension (netobserver_kernel_aggregation2, netobserver_read_aggregates2,
	// netobserver_delete_aggregates2; all three or none)
	int32_t (*kernel_aggregation)(uint32_t);
	__typeof__(netobserver_read_aggregates2) *read_aggregates;
	int32_t (*delete_aggregates)(const struct netobserver_agg_key *, int32_t);
	char path[4096];              // the file the dynamic loader actually opened
	long offsets[4];              // stubs 14-17, dli_saddr - dli_fbase
	int32_t stop_flag;            // read by ebpf_poll_events; written by Go
	struct netobs_batch batch;
};

// netobs_open dlopens file (a path, or a bare name for the loader's search), resolves the 17
// symbols and the stub offsets. On failure it returns NULL with the reason in err.
struct netobs_lib *netobs_open(const char *file, char *err, size_t err_len);
// netobs_init registers the callbacks (print first, as the library requires) and calls ebpf_init.
int32_t netobs_init(struct netobs_lib *lib, const char *btf);
int32_t netobs_start(struct netobs_lib *lib);
int32_t netobs_stop(struct netobs_lib *lib);
// netobs_detach stops the library producing events, keeping its buffers pollable; 0 when the
// library has no netobserver_detach (then it goes on producing until ebpf_stop).
int netobs_detach(struct netobs_lib *lib);
const char *netobs_version(struct netobs_lib *lib);
// The uprobe extension: -ENOSYS when the library lacks it.
int32_t netobs_attach_uprobe(struct netobs_lib *lib, const char *program, const char *path, uint64_t offset,
			     int32_t retprobe);
int32_t netobs_detach_uprobe(struct netobs_lib *lib, int32_t id);
int netobs_has_uprobes(struct netobs_lib *lib);
uint64_t netobs_tls_unattributed(struct netobs_lib *lib);
// netobserver_attach_uprobe_cookie: -ENOSYS when the library lacks it.
int32_t netobs_attach_uprobe_cookie(struct netobs_lib *lib, const char *program, const char *path, uint64_t offset,
				    uint64_t cookie);
// The kernel aggregation extension: -ENOSYS when the library lacks it.
int32_t netobs_kernel_aggregation(struct netobs_lib *lib, uint32_t mask);
int32_t netobs_read_aggregates(struct netobs_lib *lib, const struct netobserver_agg_key *after,
			       struct netobserver_agg_key *keys, struct netobserver_agg_value *values, int32_t max,
			       uint64_t *counters, int32_t ncounters);
int32_t netobs_delete_aggregates(struct netobs_lib *lib, const struct netobserver_agg_key *keys, int32_t n);
// netobs_has_process_events says whether the library has the process extension.
int netobs_has_process_events(struct netobs_lib *lib);
// netobs_finished is 1 once a replay library delivered its whole trace; 0 for a kernel library.
int netobs_finished(struct netobs_lib *lib);
void netobs_config(struct netobs_lib *lib, int32_t opt1, int32_t opt2, int32_t value);
// netobs_idle sleeps ns nanoseconds on the calling thread. The poller sleeps after an empty poll
// here rather than on a Go timer: each timer wake-up also wakes the Go scheduler (netpoller, an idle
// P, sysmon). On an idle 2-vCPU host, 100 polls a second on a Go timer cost 2.3 % of a core, on a
// thread sleeping in C about 1.4 %; 25 a second (IdleInterval) 0.4 %.
void netobs_idle(int64_t ns);
// netobs_has_wait says whether the library has the wakeup extension.
int netobs_has_wait(struct netobs_lib *lib);
// netobs_wait sleeps up to ns nanoseconds, until a ring passes its fill watermark
// (netobserver_wait_events), on the calling thread; without the extension, or if it fails, it
// sleeps the whole time (netobs_idle). It returns what netobserver_wait_events returned, else 0.
int32_t netobs_wait(struct netobs_lib *lib, int64_t ns);
// netobs_wake ends the netobs_wait in progress, or the next one, at once where the library can
// (netobserver_wake_events); else the wait runs its course.
void netobs_wake(struct netobs_lib *lib);

// netobs_poll empties the batch, then runs one ebpf_poll_events that fills it.
int32_t netobs_poll(struct netobs_lib *lib, int32_t max_events);
int32_t netobs_get_next_key(struct netobs_lib *lib, int32_t fd, const uint64_t *key, uint64_t *next, int *err);
int32_t netobs_get_fd(struct netobs_lib *lib);
void netobs_delete_map_value(struct netobs_lib *lib, void *ids, int32_t count);
void netobs_update_conn_addr(struct netobs_lib *lib, struct connect_id_t *id, union sockaddr_t *addr,
			     uint16_t local_port, bool drop);
void netobs_disable_process(struct netobs_lib *lib, uint32_t pid, bool drop);
void netobs_update_conn_role(struct netobs_lib *lib, struct connect_id_t *id, enum support_role_e role);
void netobs_close(struct netobs_lib *lib);
// netobs_layout returns the i-th (name, value) pair of the header's sizes and offsets, or 0 past
// the end; the Go layout tests compare the Go types with it.
int netobs_layout(int i, const char **name, size_t *value);

#endif
