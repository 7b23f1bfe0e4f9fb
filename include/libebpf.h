/* SPDX-License-Identifier: Apache-2.0
 *
 * libebpf.h — the binary interface of libebpf.so, the native capture library that iLogtail's
 * observer_ilogtail_network_v1 dlopens. Written by the netobserver authors from the facts in
 * shared/docs/libebpf-abi.md; every size and offset below is pinned by a static assert, because a
 * single byte of drift makes Alibaba's binary and ours incompatible with each other.
 *
 * The same header is compiled three ways:
 *   - by the cgo layer and the replay library (hosted C, <stdint.h>);
 *   - by our libebpf.so loader (hosted C);
 *   - by the BPF programs (clang -target bpf), which define __bpf__ and bring their own fixed-width
 *     types; the function prototypes and callback typedefs are hidden there.
 *
 * x86-64 LP64, natural alignment, no packing. Enums are 4-byte ints, bool is 1 byte.
 */
#ifndef NETOBSERVER_LIBEBPF_H
#define NETOBSERVER_LIBEBPF_H

#ifndef __bpf__
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Payload bytes carried by one data event. */
#define CONN_DATA_MAX_SIZE 16384
/* DATA_SAMPLING value that keeps every connection. */
#define DATA_SAMPLE_ALL 100
/* sockaddr_t family meaning "the kernel side did not learn the address". */
#define AF_UNKNOWN 0xff
/* ebpf_poll_events result when *stop_flag was set. */
#define EBPF_POLL_STOPPED (-100)

enum support_proto_e {
	ProtoUnknown = 0,
	ProtoHTTP = 1,
	ProtoMySQL = 2,
	ProtoDNS = 3,
	ProtoRedis = 4,
	ProtoKafka = 5,
	ProtoPGSQL = 6,
	ProtoMongo = 7,
	ProtoDubbo = 8,
	ProtoHSF = 9,
	NumProto,
};

/* netobserver's protocols, numbered apart from Alibaba's enum (which may grow to 15 without a
 * clash). Only our libebpf.so detects them; PROTOCOL_FILTER's bit p-1 selects each, as it does
 * Alibaba's. */
enum netobserver_proto_e {
	ProtoHTTP2 = 16,
	ProtoMemcached = 17,
	ProtoAMQP = 18,
	ProtoMQTT = 19,
	ProtoNATS = 20,
	NetobserverProtoEnd,
};

/* Bit values, not an ordinal. */
enum support_role_e {
	IsUnknown = 0x01,
	IsClient = 0x02,
	IsServer = 0x04,
};

enum support_type_e {
	TypeUnknown = 0,
	TypeRequest = 1,
	TypeResponse = 2,
};

enum support_direction_e {
	DirUnknown = 0,
	DirIngress = 1, /* read, recv* */
	DirEgress = 2,  /* write, send* */
};

enum support_event_e {
	EventConnect = 0,
	EventClose = 1,
};

enum support_syscall_e {
	FuncUnknown = 0,
	FuncWrite = 1,
	FuncRead = 2,
	FuncSend = 3,
	FuncRecv = 4,
	FuncSendTo = 5,
	FuncRecvFrom = 6,
	FuncSendMsg = 7,
	FuncRecvMsg = 8,
	FuncMmap = 9,
	FuncSockAlloc = 10,
	FuncAccept = 11,
	FuncAccept4 = 12,
	FuncSecuritySendMsg = 13,
	FuncSecurityRecvMsg = 14,
	/* CoolBPF additions; harmless to consumers that do not know them. */
	FuncSendMmsg = 15,
	FuncRecvMmsg = 16,
	FuncWriteV = 17,
	FuncReadV = 18,
};

enum ebpf_config_primary_e {
	PROTOCOL_FILTER = 0,
	TGID_FILTER = 1,
	SELF_FILTER = 2,
	PORT_FILTER = 3,
	DATA_SAMPLING = 4,
	PERF_BUFFER_PAGE = 5,
};

enum callback_type_e {
	CTRL_HAND = 0,
	DATA_HAND = 1,
	STAT_HAND = 2,
};

/* 28 bytes, align 4. family in host order; port and addresses in network order. */
union sockaddr_t {
	struct {
		uint16_t family;
		uint16_t port;
	} sa;
	struct {
		uint16_t family;
		uint16_t port;
		uint32_t addr;
		uint8_t zero[8];
	} in4;
	struct {
		uint16_t family;
		uint16_t port;
		uint32_t flowinfo;
		uint8_t addr[16];
		uint32_t scope_id;
	} in6;
};

/* The identity of a connection. start = monotonic ns when it was first tracked, so a reused fd
 * gets a new id. The first 8 bytes, read as a little-endian u64, are the kernel map key
 * (tgid << 32 | fd). */
struct connect_id_t {
	int32_t fd;
	uint32_t tgid;
	uint64_t start;
};

struct conn_ctrl_event_t {
	enum support_event_e type;
	uint64_t ts; /* monotonic ns */
	struct connect_id_t conn_id;
	union {
		struct {
			union sockaddr_t addr;
			enum support_role_e role;
		} connect;
		struct {
			int64_t wr_bytes;
			int64_t rd_bytes;
		} close;
	};
};

struct conn_data_event_attr_t {
	uint64_t ts;
	struct connect_id_t conn_id;
	union sockaddr_t addr; /* remote */
	enum support_proto_e protocol;
	enum support_role_e role;
	enum support_type_e type;
	enum support_direction_e direction;
	enum support_syscall_e syscall_func;
	uint64_t pos;          /* stream offset in this direction after the whole syscall */
	uint32_t org_msg_size; /* length of this chunk on the wire */
	uint32_t msg_buf_size; /* bytes copied into msg, <= CONN_DATA_MAX_SIZE */
	bool try_to_prepend;
	uint32_t length_header; /* raw bytes of the last 4-byte read on this connection */
};

/* Only the first sizeof(attr) + attr.msg_buf_size bytes of an event handed to a callback exist. */
struct conn_data_event_t {
	struct conn_data_event_attr_t attr;
	char msg[CONN_DATA_MAX_SIZE];
};

struct conn_stats_event_t {
	uint64_t ts;
	struct connect_id_t conn_id;
	union sockaddr_t addr;
	enum support_role_e role;
	int64_t wr_bytes; /* cumulative */
	int64_t rd_bytes;
	int32_t wr_pkts; /* cumulative syscalls */
	int32_t rd_pkts;
	int64_t last_output_wr_bytes;
	int64_t last_output_rd_bytes;
	int32_t last_output_wr_pkts;
	int32_t last_output_rd_pkts;
	uint32_t conn_events; /* 1 = emitted at close */
};

#define LIBEBPF_ASSERT_LAYOUT(type, field, off)                                              \
	_Static_assert(__builtin_offsetof(type, field) == (off), #type "." #field " must be at " #off)
#define LIBEBPF_ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " must be " #size " bytes")
#define LIBEBPF_ASSERT_ALIGN(type, align) \
	_Static_assert(_Alignof(type) == (align), #type " must be aligned to " #align)

_Static_assert(sizeof(enum support_proto_e) == 4, "enums are 4 bytes");
_Static_assert(sizeof(bool) == 1, "bool is 1 byte");

LIBEBPF_ASSERT_SIZE(union sockaddr_t, 28);
LIBEBPF_ASSERT_ALIGN(union sockaddr_t, 4);
LIBEBPF_ASSERT_LAYOUT(union sockaddr_t, sa.family, 0);
LIBEBPF_ASSERT_LAYOUT(union sockaddr_t, sa.port, 2);
LIBEBPF_ASSERT_LAYOUT(union sockaddr_t, in4.addr, 4);
LIBEBPF_ASSERT_LAYOUT(union sockaddr_t, in6.flowinfo, 4);
LIBEBPF_ASSERT_LAYOUT(union sockaddr_t, in6.addr, 8);
LIBEBPF_ASSERT_LAYOUT(union sockaddr_t, in6.scope_id, 24);

LIBEBPF_ASSERT_SIZE(struct connect_id_t, 16);
LIBEBPF_ASSERT_ALIGN(struct connect_id_t, 8);
LIBEBPF_ASSERT_LAYOUT(struct connect_id_t, fd, 0);
LIBEBPF_ASSERT_LAYOUT(struct connect_id_t, tgid, 4);
LIBEBPF_ASSERT_LAYOUT(struct connect_id_t, start, 8);

LIBEBPF_ASSERT_SIZE(struct conn_ctrl_event_t, 64);
LIBEBPF_ASSERT_ALIGN(struct conn_ctrl_event_t, 8);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, type, 0);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, ts, 8);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, conn_id, 16);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, connect.addr, 32);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, connect.role, 60);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, close.wr_bytes, 32);
LIBEBPF_ASSERT_LAYOUT(struct conn_ctrl_event_t, close.rd_bytes, 40);

LIBEBPF_ASSERT_SIZE(struct conn_data_event_attr_t, 96);
LIBEBPF_ASSERT_ALIGN(struct conn_data_event_attr_t, 8);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, ts, 0);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, conn_id, 8);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, addr, 24);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, protocol, 52);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, role, 56);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, type, 60);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, direction, 64);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, syscall_func, 68);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, pos, 72);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, org_msg_size, 80);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, msg_buf_size, 84);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, try_to_prepend, 88);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_attr_t, length_header, 92);

LIBEBPF_ASSERT_SIZE(struct conn_data_event_t, 96 + CONN_DATA_MAX_SIZE);
LIBEBPF_ASSERT_LAYOUT(struct conn_data_event_t, msg, 96);

LIBEBPF_ASSERT_SIZE(struct conn_stats_event_t, 112);
LIBEBPF_ASSERT_ALIGN(struct conn_stats_event_t, 8);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, ts, 0);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, conn_id, 8);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, addr, 24);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, role, 52);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, wr_bytes, 56);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, rd_bytes, 64);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, wr_pkts, 72);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, rd_pkts, 76);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, last_output_wr_bytes, 80);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, last_output_rd_bytes, 88);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, last_output_wr_pkts, 96);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, last_output_rd_pkts, 100);
LIBEBPF_ASSERT_LAYOUT(struct conn_stats_event_t, conn_events, 104);

/*
 * netobserver's OPTIONAL extension: process identity events. Not part of the 17-symbol ABI (Alibaba's
 * library has none of it): a consumer looks up netobserver_setup_process_func with dlsym and, when it
 * is there, receives one event per exec, fork (a new process, not a thread) and process exit, from
 * the same poll as the other events, merged with them by ts. Details: bpf/README.md.
 */
#define NETOBSERVER_PROC_ARGS 512   /* argv bytes carried, NUL-separated as /proc/<pid>/cmdline */
#define NETOBSERVER_PROC_CGROUP 128 /* bytes of each cgroup path component carried */
/* The lost callback's `type` for process events (only ever passed when a process callback is set). */
#define PROC_HAND 3

enum netobserver_proc_type_e {
	ProcExec = 1, /* the process replaced its program: new comm and argv */
	ProcFork = 2, /* a new process (thread group); argv and cgroup are its parent's, which it shares */
	ProcExit = 3, /* the last thread of the process exited: no event of it follows */
};

/* ProcStartEstimated: start_ns is the fork's time, not read from the child (plain-tracepoint fork,
 * whose arguments do not carry the child's task); ProcArgsFailed: argv could not be read. */
#define ProcStartEstimated 0x1
#define ProcArgsFailed 0x2

struct netobserver_proc_event_t {
	uint32_t type; /* enum netobserver_proc_type_e */
	uint32_t tgid;
	uint64_t ts;       /* monotonic ns, the clock of every other event's ts */
	uint64_t start_ns; /* the process's start, ns after boot (task start_boottime): /proc/<pid>/stat's
			    * starttime is start_ns / (1e9 / USER_HZ) */
	uint32_t ppid;
	uint32_t flags;
	uint32_t args_size;  /* bytes of args that are valid */
	uint32_t args_total; /* argv's whole length; more than args_size when it was cut */
	uint64_t cgroup_id;  /* the cgroup v2 id (kernfs node id) of the process's cgroup */
	char comm[16];
	/* The last two components of the process's cgroup path (the v2 hierarchy, or the memory
	 * controller's on a v1-only host), NUL-terminated, each cut at NETOBSERVER_PROC_CGROUP - 1
	 * bytes: enough to find a container id and pod uid (docker-<id>.scope,
	 * kubepods-…-pod<uid>.slice/cri-containerd-<id>.scope, pod<uid>/<id>) of a process already gone. */
	char cgroup_parent[NETOBSERVER_PROC_CGROUP];
	char cgroup_leaf[NETOBSERVER_PROC_CGROUP];
	uint8_t args[NETOBSERVER_PROC_ARGS];
};

LIBEBPF_ASSERT_SIZE(struct netobserver_proc_event_t, 64 + 2 * NETOBSERVER_PROC_CGROUP + NETOBSERVER_PROC_ARGS);
LIBEBPF_ASSERT_LAYOUT(struct netobserver_proc_event_t, ts, 8);
LIBEBPF_ASSERT_LAYOUT(struct netobserver_proc_event_t, cgroup_id, 40);
LIBEBPF_ASSERT_LAYOUT(struct netobserver_proc_event_t, comm, 48);
LIBEBPF_ASSERT_LAYOUT(struct netobserver_proc_event_t, cgroup_parent, 64);

/* The kernel aggregation extension's map layouts (its functions are declared below). */
#define NETOBSERVER_AGG_HOST_MAX 32
#define NETOBSERVER_AGG_PATH_MAX 64
struct netobserver_agg_key {
	struct connect_id_t conn; /* with its start time: a reused fd is another connection */
	uint16_t role;            /* support_role_e */
	uint16_t protocol;        /* ProtoHTTP or ProtoRedis: the meaning of the fields below */
	/* HTTP: the status code. Redis: the reply's first byte (its RESP type; '-' and '!' are
	 * errors). */
	uint16_t status;
	uint8_t method;  /* HTTP: 1 GET, 2 POST, 3 PUT, 4 HEAD, 5 PATCH, 6 DELETE, 7 OPTIONS; Redis: 0 */
	uint8_t version; /* HTTP: the request's, 0 HTTP/1.0, 1 HTTP/1.1; Redis: 0 */
	/* HTTP: the Host value and the target's path (up to '?' or '#'). Redis: in host, a container
	 * command's second argument (its subcommand, if at most 32 bytes; none otherwise), and in
	 * path the command name, both upper-cased as they came, unchecked: user space maps a name
	 * Redis does not have to what the capture parser says (UNKNOWN, no subcommand). Zero-padded;
	 * longer ones are never aggregated (NETOBSERVER_AGG_FB_LONG). */
	char host[NETOBSERVER_AGG_HOST_MAX];
	char path[NETOBSERVER_AGG_PATH_MAX];
};
/* The latency histogram's buckets are the observer's (observer/aggregate/histogram.go, 5 % wide):
 * latency_hist[i] counts the calls of its bucket NETOBSERVER_AGG_HIST_FIRST + i, from 516 ns up
 * (the first also holds the latencies below it); bpf/latency_bounds.h holds the bounds,
 * generated from Go's. */
#define NETOBSERVER_AGG_HIST_FIRST 128
#define NETOBSERVER_AGG_HIST_BUCKETS 384
struct netobserver_agg_value {
	uint64_t count;
	uint64_t latency_ns; /* sum of (first response syscall - first request syscall) */
	uint64_t req_bytes;  /* bytes of the requests (head and body) */
	uint64_t resp_bytes; /* bytes in the response direction up to the next request */
	uint32_t latency_hist[NETOBSERVER_AGG_HIST_BUCKETS];
};
/* Counters: connections that fell back, per reason, then what became of the calls pending at a
 * fallback: lost (a body had followed the head in later syscalls) or exported; then the calls
 * never answered. */
enum netobserver_agg_counter {
	NETOBSERVER_AGG_FB_NOT_PLAIN,   /* request syscall not one plain buffer of at most 16 KiB */
	NETOBSERVER_AGG_FB_HEAD,        /* request head not whole in the syscall, or not simple */
	NETOBSERVER_AGG_FB_EXTRA,       /* bytes after the request's head and body in its syscall */
	NETOBSERVER_AGG_FB_PIPELINED,   /* request bytes while a request is pending, past its body */
	NETOBSERVER_AGG_FB_STATUS,      /* the response starts with no final status line (1xx...) */
	NETOBSERVER_AGG_FB_EARLY,       /* response before the request's body ended */
	NETOBSERVER_AGG_FB_UNSOLICITED, /* response bytes with no request seen */
	NETOBSERVER_AGG_FB_FULL,        /* the aggregate or the connection map is full */
	NETOBSERVER_AGG_FB_LONG,        /* a path or Host value longer than the key holds */
	/* The response direction after a request does not start with a status line, and that request
	 * came while the previous response, of unknown length (chunked, no Content-Length, a head
	 * longer than the kernel reads, or not read: the client's first read of it did not fill its
	 * buffer, the server's end), was under way: it was sent before that response was read
	 * whole (or answered before it was written whole). That response's remaining bytes are not
	 * counted to its call; capture, starting inside them, counts them as parse failure bytes.
	 * (A known length keeps them to its call, no fallback.) */
	NETOBSERVER_AGG_FB_UNFINISHED,
	/* Redis: a request after which replies may come unasked (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE,
	 * their UNSUBSCRIBEs, MONITOR, HELLO: RESP3 pushes), or a reply that is a push ('>'). */
	NETOBSERVER_AGG_FB_PUSH,
	/* Redis: a request came while the previous reply was under way and that reply's end was not
	 * known to have come (its length unknown from its first bytes: nested, or a flat aggregate
	 * past the 1 KiB read; or bytes of it still to come: the client wrote before reading it
	 * whole). The request goes out as capture's event, and capture goes on from it. */
	NETOBSERVER_AGG_FB_REPLY_END,
	NETOBSERVER_AGG_LOST_CALLS,     /* requests pending at a fallback and not exported (below) */
	NETOBSERVER_AGG_PENDING_EXPORTED, /* requests pending at a fallback, exported as their event */
	NETOBSERVER_AGG_UNANSWERED,     /* HTTP requests pending when their connection ended */
	/* HTTP requests pending once the programs are detached (netobserver_detach; 0 before): those
	 * the kernel held unanswered at the stop. The library counts them, not the programs. */
	NETOBSERVER_AGG_PENDING_AT_STOP,
	/* The same two of Redis requests. */
	NETOBSERVER_AGG_UNANSWERED_REDIS,
	NETOBSERVER_AGG_PENDING_AT_STOP_REDIS,
	NETOBSERVER_AGG_NUM_COUNTERS
};

#ifndef __bpf__

typedef void (*net_data_process_func_t)(void *custom, struct conn_data_event_t *event);
typedef void (*net_ctrl_process_func_t)(void *custom, struct conn_ctrl_event_t *event);
typedef void (*net_statistics_process_func_t)(void *custom, struct conn_stats_event_t *event);
typedef void (*net_lost_func_t)(void *custom, enum callback_type_e type, uint64_t lost_count);
/* level: 0 warn, 1 info, 2 debug. */
typedef int (*net_print_fn_t)(int16_t level, const char *format, va_list args);

void ebpf_setup_net_data_process_func(net_data_process_func_t func, void *custom_data);
void ebpf_setup_net_event_process_func(net_ctrl_process_func_t func, void *custom_data);
void ebpf_setup_net_statistics_process_func(net_statistics_process_func_t func, void *custom_data);
void ebpf_setup_net_lost_func(net_lost_func_t func, void *custom_data);
void ebpf_setup_print_func(net_print_fn_t func);

void ebpf_config(int32_t opt1, int32_t opt2, int32_t params_count, void **params, int32_t *params_len);
int32_t ebpf_poll_events(int32_t max_events, int32_t *stop_flag);
int32_t ebpf_init(char *btf, int32_t btf_size, char *so, int32_t so_size, long off_cleanup_dog,
		  long off_update_conn_addr, long off_disable_process, long off_update_conn_role);
int32_t ebpf_start(void);
int32_t ebpf_stop(void);
int32_t ebpf_get_fd(void);
int32_t ebpf_get_next_key(int32_t fd, const void *key, void *next_key);
void ebpf_delete_map_value(void *ids, int32_t count);

/* The optional process extension (above): f receives every process event during ebpf_poll_events,
 * on the polling thread, with the same pointer lifetime as the other callbacks. Set it before
 * ebpf_start; the next ebpf_start attaches the process programs when f is set (and leaves them off
 * when it is NULL, so a consumer that never asks pays nothing). */
typedef void (*netobserver_proc_func_t)(void *custom, struct netobserver_proc_event_t *event);
void netobserver_setup_process_func(netobserver_proc_func_t func, void *custom_data);

/* netobserver's OPTIONAL stop extension, looked up with dlsym as the process extension is: the
 * programs stop producing events while the buffers stay pollable. A consumer calls it, polls until
 * a poll returns nothing, then ebpf_stop: no event written before the stop is lost. Without it
 * (Alibaba's library) a consumer can only poll until a short poll right before ebpf_stop, and
 * events written in that last instant are freed unread. ebpf_start after it attaches again. */
void netobserver_detach(void);

/*
 * netobserver's OPTIONAL wakeup extension, also not one of the 17 symbols (a consumer looks it up
 * with dlsym; without it, it sleeps on its own timer as iLogtail did). Sleeps until one of the
 * rings passes its fill watermark (a quarter of the ring) or timeout_ms passed, whichever comes
 * first, so that a consumer may sleep long on a quiet host and still drain a filling ring before it
 * overflows. Returns the number of rings that woke it (0: timeout or a signal), or -errno. It may be
 * called from another thread than the one polling, without serialisation against the other calls.
 */
int32_t netobserver_wait_events(int32_t timeout_ms);

/*
 * Within the wakeup extension, also optional: ends the netobserver_wait_events in progress, or the
 * next one, at once (it returns 0), so that a consumer that stops does not wait for its sleep.
 * Returns 0 or -errno; callable from any thread.
 */
int32_t netobserver_wake_events(void);

/*
 * netobserver's OPTIONAL uprobe extension (dlsym, like the others): attaches one of the library's
 * attachable programs (the TLS probes, names starting with "tls_") as an entry (retprobe 0) or
 * return probe at a FILE offset of the file at path, for every process that maps the file, now
 * and later. program is the base name; the library picks the build of its transport where a
 * program has two (the return probes have one: they hand over to the transport's plaintext
 * program). Returns a
 * link id >= 0 or -errno (-EINVAL before ebpf_init or for a name outside the set, -ENOENT for an
 * unknown program, -ENOSPC past 1024 links). Links end with netobserver_detach_uprobe, with
 * netobserver_detach and with ebpf_stop (a later ebpf_start does not attach them again).
 * netobserver_tls_unattributed: TLS calls whose plaintext was lost because their connection could
 * not be found (or, never expected, their probe's tail call to the plaintext program failed), since
 * ebpf_init.
 */
int32_t netobserver_attach_uprobe(const char *program, const char *path, uint64_t offset, int32_t retprobe);
int32_t netobserver_detach_uprobe(int32_t id);
uint64_t netobserver_tls_unattributed(void);
/*
 * The same as an entry probe, with an attach cookie the program reads (bpf_get_attach_cookie):
 * the Go crypto/tls probes (tls_go_entry, tls_go_return), whose cookie carries the binary's field
 * offsets and the direction (bpf/shared.h, NETOBSERVER_GOTLS_MAGIC). -ENOENT for those programs
 * on a kernel without cookies for uprobes (before 5.15). Optional within the extension: a library
 * without it has no Go TLS probes.
 */
int32_t netobserver_attach_uprobe_cookie(const char *program, const char *path, uint64_t offset, uint64_t cookie);

/*
 * netobserver's OPTIONAL kernel aggregation extension (dlsym; HTTP/1.x and Redis, the tp_btf hook
 * set with bpf_loop, Linux 5.17+). Its symbols end in 2 since the key has a protocol field (an
 * observer built for the first layout finds no extension in this library, and this one none in
 * an older library). netobserver_kernel_aggregation2 sets the protocols (bit p-1 for
 * protocol p; ProtoHTTP's and ProtoRedis's bits are taken) whose calls the kernel counts per key instead of
 * exporting their data, for the connections whose protocol and role it knows; 0 turns it off (the
 * default). Called before ebpf_init, it only says whether ebpf_init loads the mode's program
 * (which costs the verifier's work at every start: not loaded unless asked for); called after,
 * before (or between) ebpf_start, it turns the mode on or off. A connection whose traffic is not
 * a simple non-pipelined exchange falls back to today's capture for good, from a message boundary,
 * counted per reason (bpf/README.md, "Kernel aggregation"). Returns 0, or -EOPNOTSUPP for another
 * protocol, or after an ebpf_init that did not load the program (not asked for before it, or a
 * hook set without the mode).
 *
 * netobserver_read_aggregates2 copies up to max entries of the aggregate map into keys and values,
 * those that follow the entry of key after in the map's order (NULL: from the first), and the
 * first ncounters counters (NETOBSERVER_AGG_*) into counters; returns how many entries it copied
 * (fewer than max: none follow) or -errno. A reader reads in chunks, each after the previous
 * chunk's last key, so that a map of large values is never copied whole. Values are cumulative
 * since ebpf_init; the kernel never resets or removes an entry, so a chunk's last key is still
 * there when the next chunk starts from it (unless its reader deleted it).
 *
 * netobserver_delete_aggregates2 removes the n entries of keys (those of closed connections, once
 * their last values were read: the key holds the connection's start, so no later call adds to
 * it); returns how many were there, or -errno.
 */
int32_t netobserver_kernel_aggregation2(uint32_t protocol_mask);
int32_t netobserver_read_aggregates2(const struct netobserver_agg_key *after, struct netobserver_agg_key *keys,
				     struct netobserver_agg_value *values, int32_t max, uint64_t *counters, int32_t ncounters);
int32_t netobserver_delete_aggregates2(const struct netobserver_agg_key *keys, int32_t n);

/* The four uprobe stubs: empty in user space, observed by the kernel side. */
void ebpf_cleanup_dog(void *ids, int32_t count);
void ebpf_update_conn_addr(struct connect_id_t *id, union sockaddr_t *addr, uint16_t local_port, bool drop);
void ebpf_disable_process(uint32_t pid, bool drop);
void ebpf_update_conn_role(struct connect_id_t *id, enum support_role_e role);

/*
 * The 17 symbols as a consumer binds them with dlsym: one pointer per symbol, typed from the
 * prototypes above, in the order of LIBEBPF_SYMBOL_NAMES (the four uprobe stubs last).
 */
struct libebpf_symbols {
	__typeof__(ebpf_setup_net_data_process_func) *setup_data;
	__typeof__(ebpf_setup_net_event_process_func) *setup_ctrl;
	__typeof__(ebpf_setup_net_statistics_process_func) *setup_stats;
	__typeof__(ebpf_setup_net_lost_func) *setup_lost;
	__typeof__(ebpf_setup_print_func) *setup_print;
	__typeof__(ebpf_config) *config;
	__typeof__(ebpf_poll_events) *poll_events;
	__typeof__(ebpf_init) *init;
	__typeof__(ebpf_start) *start;
	__typeof__(ebpf_stop) *stop;
	__typeof__(ebpf_get_fd) *get_fd;
	__typeof__(ebpf_get_next_key) *get_next_key;
	__typeof__(ebpf_delete_map_value) *delete_map_value;
	__typeof__(ebpf_cleanup_dog) *cleanup_dog;
	__typeof__(ebpf_update_conn_addr) *update_conn_addr;
	__typeof__(ebpf_disable_process) *disable_process;
	__typeof__(ebpf_update_conn_role) *update_conn_role;
};

#define LIBEBPF_SYMBOL_COUNT 17
#define LIBEBPF_FIRST_STUB 13 /* index of ebpf_cleanup_dog */
#define LIBEBPF_SYMBOL_NAMES                                                                       \
	{                                                                                          \
		"ebpf_setup_net_data_process_func", "ebpf_setup_net_event_process_func",           \
		"ebpf_setup_net_statistics_process_func", "ebpf_setup_net_lost_func",              \
		"ebpf_setup_print_func", "ebpf_config", "ebpf_poll_events", "ebpf_init",           \
		"ebpf_start", "ebpf_stop", "ebpf_get_fd", "ebpf_get_next_key",                     \
		"ebpf_delete_map_value", "ebpf_cleanup_dog", "ebpf_update_conn_addr",              \
		"ebpf_disable_process", "ebpf_update_conn_role",                                   \
	}

LIBEBPF_ASSERT_SIZE(struct libebpf_symbols, LIBEBPF_SYMBOL_COUNT * sizeof(void *));
LIBEBPF_ASSERT_LAYOUT(struct libebpf_symbols, cleanup_dog, LIBEBPF_FIRST_STUB * sizeof(void *));

#endif /* !__bpf__ */

#ifdef __cplusplus
}
#endif

#endif /* NETOBSERVER_LIBEBPF_H */
