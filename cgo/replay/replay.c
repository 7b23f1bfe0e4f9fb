// SPDX-License-Identifier: Apache-2.0
//
// libebpf-replay.so: the libebpf.so ABI implemented over a trace file instead of the kernel.
//
// It exists so that everything above the ABI (the cgo layer, reassembly, parsers, records) can be
// exercised with exact, hand-written or recorded event sequences, through the same callbacks, the
// same alignment and the same pointer lifetime as the real library:
//   - the trace named by $NETOBSERVER_REPLAY_TRACE is read at ebpf_init (format: testdata/README.md);
//   - each ebpf_poll_events delivers at most max_events callbacks, in file order, from an event
//     placed 4 bytes off 8-byte alignment (as a perf sample is) and poisoned after the callback;
//   - the kernel-side semantics that user space can observe are honoured: PROTOCOL_FILTER (no data
//     until set), TGID_FILTER, SELF_FILTER, DATA_SAMPLING, disabled processes, dropped connections,
//     role updates, the connection map walked by ebpf_get_next_key;
//   - every stub and control call is appended, one line each, to $NETOBSERVER_REPLAY_STUBS, so tests
//     can assert exactly what reached the library.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libebpf.h"

#define EXPORT __attribute__((visibility("default")))
#define STUB EXPORT __attribute__((noinline, used))

#define PROTOCOL_FILTER_UNSET (-2)
#define MAX_DISABLED 1024
#define MAX_PENDING 256
#define POISON 0xa5

enum entry_kind { ENTRY_CTRL, ENTRY_DATA, ENTRY_STATS, ENTRY_LOST, ENTRY_PROC };

struct entry {
	enum entry_kind kind;
	int line;
	uint64_t repeat;  // deliveries of this entry
	uint64_t ts_step; // added to ts on each repetition
	bool pos_given;   // data: pos written in the trace; else the running offset is used
	bool org_given;   // data: org_msg_size written in the trace; else the payload length
	struct conn_ctrl_event_t ctrl;
	struct conn_data_event_attr_t data;
	struct conn_stats_event_t stats;
	enum callback_type_e lost_which;
	uint64_t lost_count;
	uint8_t *payload;
	struct netobserver_proc_event_t *proc;
};

struct conn {
	uint32_t tgid;
	int32_t fd;
	uint64_t start;
	bool sampled;
	bool role_set; // a role arrived through ebpf_update_conn_role and overrides the trace's
	enum support_role_e role;
	bool addr_set; // an address arrived through ebpf_update_conn_addr and overrides the trace's
	union sockaddr_t addr;
	uint64_t offset[3]; // running stream offset per support_direction_e
};

static struct {
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
	net_print_fn_t print_fn;

	bool initialised;
	bool started;
	bool detached; // netobserver_detach: the trace stops, pending events are still delivered
	int32_t protocol_filter;
	int32_t tgid_filter;
	int32_t self_filter;
	int32_t port_filter;
	int32_t sampling;
	int32_t pages[3];

	struct entry *entries;
	size_t n_entries;
	size_t cursor;
	uint64_t cursor_repeat; // deliveries of entries[cursor] done so far

	struct conn *conns;
	size_t n_conns, cap_conns;
	size_t last_conn; // cache: traces usually hit one connection many times in a row

	// EventConnects raised by ebpf_update_conn_addr, delivered first by the next poll.
	struct conn_ctrl_event_t pending[MAX_PENDING];
	size_t n_pending;

	uint32_t disabled[MAX_DISABLED];
	size_t n_disabled;

	FILE *stub_log;
	int map_fd;
} R = {.map_fd = -1};

// A perf sample's raw data starts 4 bytes past an 8-byte boundary; so does every event we hand out.
static _Alignas(8) uint8_t deliver_buf[8 + sizeof(struct conn_data_event_t)];
#define DELIVER_AT (deliver_buf + 4)

static void say(int16_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int16_t level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (R.print_fn) {
		R.print_fn(level, fmt, ap);
	} else {
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	if (!R.stub_log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(R.stub_log, fmt, ap);
	va_end(ap);
	fputc('\n', R.stub_log);
	fflush(R.stub_log);
}

static void format_conn(char *out, size_t n, const struct connect_id_t *id)
{
	snprintf(out, n, "%d:%u:%llu", id->fd, id->tgid, (unsigned long long)id->start);
}

// ---- connection table -------------------------------------------------------------------------

// The connection tracked on (tgid, fd), as the kernel map holds at most one per key.
static struct conn *find_conn(uint32_t tgid, int32_t fd)
{
	if (R.last_conn < R.n_conns && R.conns[R.last_conn].tgid == tgid && R.conns[R.last_conn].fd == fd)
		return &R.conns[R.last_conn];
	for (size_t i = 0; i < R.n_conns; i++) {
		if (R.conns[i].tgid == tgid && R.conns[i].fd == fd) {
			R.last_conn = i;
			return &R.conns[i];
		}
	}
	return NULL;
}

// The connection of id: the one on (tgid, fd) if it has id's start (0 in a call: any).
static struct conn *find_id(const struct connect_id_t *id)
{
	struct conn *c = find_conn(id->tgid, id->fd);
	return c && (!id->start || c->start == id->start) ? c : NULL;
}

static bool sampled_at(uint64_t now)
{
	return (int64_t)(now % 100) < R.sampling;
}

static void forget_conn(struct conn *c);

// track_conn returns the connection (tgid, fd, start), tracking it if new. An event of another
// connection on a tracked (tgid, fd) means the fd was reused (the trace holds the old one's close
// where the kernel saw it): the old one is forgotten, and events keep their own connection's id —
// two connections on one fd within one batch replay as two.
static struct conn *track_conn(uint32_t tgid, int32_t fd, uint64_t start, bool sampled)
{
	struct conn *c = find_conn(tgid, fd);
	if (c && c->start == start)
		return c;
	if (c)
		forget_conn(c);
	if (R.n_conns == R.cap_conns) {
		size_t cap = R.cap_conns ? R.cap_conns * 2 : 64;
		struct conn *grown = realloc(R.conns, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		R.conns = grown;
		R.cap_conns = cap;
	}
	c = &R.conns[R.n_conns];
	memset(c, 0, sizeof(*c));
	c->tgid = tgid;
	c->fd = fd;
	c->start = start;
	c->role = IsUnknown;
	c->sampled = sampled;
	R.last_conn = R.n_conns++;
	return c;
}

static void forget_conn(struct conn *c)
{
	size_t i = (size_t)(c - R.conns);
	R.conns[i] = R.conns[--R.n_conns];
	R.last_conn = 0;
}

static bool process_disabled(uint32_t tgid)
{
	for (size_t i = 0; i < R.n_disabled; i++)
		if (R.disabled[i] == tgid)
			return true;
	return false;
}

// Whether the kernel side would see this process at all.
static bool process_visible(uint32_t tgid)
{
	if (R.self_filter >= 0 && tgid == (uint32_t)R.self_filter)
		return false;
	if (R.tgid_filter >= 0)
		return tgid == (uint32_t)R.tgid_filter;
	return !process_disabled(tgid);
}

// ---- trace parsing ----------------------------------------------------------------------------

struct cursor {
	const char *path;
	int line;
	char *p;
};

static int fail(struct cursor *cur, const char *what, const char *token)
{
	say(0, "replay: %s:%d: %s '%s'", cur->path, cur->line, what, token);
	return -1;
}

// skip_quoted returns what follows the "quoted string" at p, whose backslashes escape the next
// character; an unclosed one runs to the end of the line.
static char *skip_quoted(char *p)
{
	p++;
	while (*p && *p != '"') {
		if (*p == '\\' && p[1])
			p++;
		p++;
	}
	if (*p == '"')
		p++;
	return p;
}

// next_token returns the next whitespace-separated token, or a "quoted string" whole (quotes
// kept), NUL-terminating it in place.
static char *next_token(struct cursor *cur)
{
	char *p = cur->p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return NULL;
	char *start = p;
	if (*p == '"') {
		p = skip_quoted(p);
	} else {
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '=' && p[1] == '"') { // key="quoted value", escapes as in payloads
				p = skip_quoted(p + 1);
				continue;
			}
			p++;
		}
	}
	if (*p)
		*p++ = '\0';
	cur->p = p;
	return start;
}

static int parse_u64(struct cursor *cur, const char *key, const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || end == v || *end || *v == '-')
		return fail(cur, "bad number for", key);
	*out = x;
	return 0;
}

// parse_u32 is parse_u64 for a 32-bit field.
static int parse_u32(struct cursor *cur, const char *key, const char *v, uint32_t *out)
{
	uint64_t x;
	if (parse_u64(cur, key, v, &x))
		return -1;
	if (x > UINT32_MAX) {
		char what[64];
		snprintf(what, sizeof(what), "bad %s", key);
		return fail(cur, what, v);
	}
	*out = (uint32_t)x;
	return 0;
}

static int parse_i64(struct cursor *cur, const char *key, const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 0);
	if (errno || end == v || *end)
		return fail(cur, "bad number for", key);
	*out = x;
	return 0;
}

struct name_value {
	const char *name;
	int value;
};

static const struct name_value protocols[] = {
	{"unknown", ProtoUnknown}, {"http", ProtoHTTP},   {"mysql", ProtoMySQL}, {"dns", ProtoDNS},
	{"redis", ProtoRedis},     {"kafka", ProtoKafka}, {"pgsql", ProtoPGSQL}, {"mongo", ProtoMongo},
	{"dubbo", ProtoDubbo},     {"hsf", ProtoHSF},     {"http2", ProtoHTTP2}, {"memcached", ProtoMemcached},
	{"amqp", ProtoAMQP},       {"mqtt", ProtoMQTT},   {"nats", ProtoNATS},   {NULL, 0},
};
static const struct name_value roles[] = {
	{"unknown", IsUnknown}, {"client", IsClient}, {"server", IsServer}, {NULL, 0}};
static const struct name_value types[] = {
	{"unknown", TypeUnknown}, {"request", TypeRequest}, {"response", TypeResponse}, {NULL, 0}};
static const struct name_value directions[] = {
	{"unknown", DirUnknown}, {"ingress", DirIngress}, {"egress", DirEgress}, {NULL, 0}};
static const struct name_value events[] = {{"connect", EventConnect}, {"close", EventClose}, {NULL, 0}};
static const struct name_value handlers[] = {
	{"ctrl", CTRL_HAND}, {"data", DATA_HAND}, {"stats", STAT_HAND}, {"proc", PROC_HAND}, {NULL, 0}};
static const struct name_value proc_types[] = {
	{"exec", ProcExec}, {"fork", ProcFork}, {"exit", ProcExit}, {NULL, 0}};
static const struct name_value syscalls[] = {
	{"unknown", FuncUnknown},   {"write", FuncWrite},       {"read", FuncRead},
	{"send", FuncSend},         {"recv", FuncRecv},         {"sendto", FuncSendTo},
	{"recvfrom", FuncRecvFrom}, {"sendmsg", FuncSendMsg},   {"recvmsg", FuncRecvMsg},
	{"mmap", FuncMmap},         {"sockalloc", FuncSockAlloc}, {"accept", FuncAccept},
	{"accept4", FuncAccept4},   {"sendmmsg", FuncSendMmsg}, {"recvmmsg", FuncRecvMmsg},
	{"writev", FuncWriteV},     {"readv", FuncReadV},       {NULL, 0},
};

// parse_name takes a name from table or, for values no name covers, the number itself.
static int parse_name(struct cursor *cur, const char *key, const char *v, const struct name_value *table, int *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 0);
	if (end != v && *end == '\0' && !errno && n >= 0 && n <= INT32_MAX) {
		*out = (int)n;
		return 0;
	}
	for (const struct name_value *nv = table; nv->name; nv++) {
		if (strcmp(nv->name, v) == 0) {
			*out = nv->value;
			return 0;
		}
	}
	return fail(cur, "unknown value for", key);
}

// addr: a.b.c.d:port, [v6]:port, unix, unknown (family 0xff) or none (all zero).
static int parse_addr(struct cursor *cur, const char *v, union sockaddr_t *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(v, "none") == 0)
		return 0;
	if (strcmp(v, "unix") == 0) {
		out->sa.family = AF_UNIX;
		return 0;
	}
	if (strcmp(v, "unknown") == 0) {
		out->sa.family = AF_UNKNOWN;
		return 0;
	}
	char host[64];
	const char *port;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close[1] != ':' || (size_t)(close - v - 1) >= sizeof(host))
			return fail(cur, "bad address", v);
		memcpy(host, v + 1, (size_t)(close - v - 1));
		host[close - v - 1] = '\0';
		port = close + 2;
		if (inet_pton(AF_INET6, host, out->in6.addr) != 1)
			return fail(cur, "bad IPv6 address", v);
		out->in6.family = AF_INET6;
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon || (size_t)(colon - v) >= sizeof(host))
			return fail(cur, "bad address", v);
		memcpy(host, v, (size_t)(colon - v));
		host[colon - v] = '\0';
		port = colon + 1;
		if (inet_pton(AF_INET, host, &out->in4.addr) != 1)
			return fail(cur, "bad IPv4 address", v);
		out->in4.family = AF_INET;
	}
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	if (*port == '\0' || *end || p > 65535)
		return fail(cur, "bad port in address", v);
	out->sa.port = htons((uint16_t)p);
	return 0;
}

static int parse_conn(struct cursor *cur, const char *v, struct connect_id_t *out)
{
	long long fd;
	unsigned long long tgid, start;
	int used = 0;
	if (sscanf(v, "%lld:%llu:%llu%n", &fd, &tgid, &start, &used) != 3 || v[used] != '\0')
		return fail(cur, "bad conn (want fd:tgid:start)", v);
	out->fd = (int32_t)fd;
	out->tgid = (uint32_t)tgid;
	out->start = start;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

// append_payload decodes one payload token ("escaped", hex=..., fill=N:HH) onto buf.
static int append_payload(struct cursor *cur, const char *tok, uint8_t *buf, uint32_t *len)
{
	if (tok[0] == '"') {
		size_t n = strlen(tok);
		if (n < 2 || tok[n - 1] != '"')
			return fail(cur, "unterminated string", tok);
		for (size_t i = 1; i + 1 < n; i++) {
			int c = (unsigned char)tok[i];
			if (c == '\\') {
				i++;
				switch (tok[i]) {
				case 'r': c = '\r'; break;
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				case '0': c = 0; break;
				case '\\': c = '\\'; break;
				case '"': c = '"'; break;
				case 'x': {
					int hi = i + 2 < n ? hexval(tok[i + 1]) : -1;
					int lo = i + 2 < n ? hexval(tok[i + 2]) : -1;
					if (hi < 0 || lo < 0)
						return fail(cur, "bad \\x escape in", tok);
					c = hi << 4 | lo;
					i += 2;
					break;
				}
				default:
					return fail(cur, "unknown escape in", tok);
				}
			}
			if (*len >= CONN_DATA_MAX_SIZE)
				return fail(cur, "payload longer than 16384 bytes at", tok);
			buf[(*len)++] = (uint8_t)c;
		}
		return 0;
	}
	if (strncmp(tok, "hex=", 4) == 0) {
		const char *h = tok + 4;
		size_t n = strlen(h);
		if (n % 2)
			return fail(cur, "odd number of hex digits in", tok);
		for (size_t i = 0; i < n; i += 2) {
			int hi = hexval(h[i]), lo = hexval(h[i + 1]);
			if (hi < 0 || lo < 0)
				return fail(cur, "bad hex digit in", tok);
			if (*len >= CONN_DATA_MAX_SIZE)
				return fail(cur, "payload longer than 16384 bytes at", tok);
			buf[(*len)++] = (uint8_t)(hi << 4 | lo);
		}
		return 0;
	}
	if (strncmp(tok, "fill=", 5) == 0) {
		unsigned long count;
		unsigned int byte;
		int used = 0;
		if (sscanf(tok + 5, "%lu:%2x%n", &count, &byte, &used) != 2 || tok[5 + used] != '\0')
			return fail(cur, "bad fill (want fill=COUNT:HEXBYTE)", tok);
		if (count > CONN_DATA_MAX_SIZE - *len)
			return fail(cur, "payload longer than 16384 bytes at", tok);
		memset(buf + *len, (int)byte, count);
		*len += (uint32_t)count;
		return 0;
	}
	return fail(cur, "unknown token", tok);
}

// parse_str decodes a "quoted" value (payload escapes) into out, NUL-terminated when it fits;
// *len gets the byte count.
static int parse_str(struct cursor *cur, const char *key, const char *v, void *out, size_t cap, uint32_t *len)
{
	static uint8_t buf[CONN_DATA_MAX_SIZE];
	uint32_t n = 0;
	if (v[0] != '"')
		return fail(cur, "want a \"quoted\" value for", key);
	if (append_payload(cur, v, buf, &n))
		return -1;
	if (n > cap)
		return fail(cur, "value too long for", key);
	memset(out, 0, cap);
	memcpy(out, buf, n);
	*len = n;
	return 0;
}

// split_pair cuts a key=value token in two, in place.
static int split_pair(struct cursor *cur, char *tok, const char **key, const char **value)
{
	char *eq = strchr(tok, '=');
	if (!eq)
		return fail(cur, "expected key=value, got", tok);
	*eq = '\0';
	*key = tok;
	*value = eq + 1;
	return 0;
}

// parse_proc reads the fields of a proc line.
static int parse_proc(struct cursor *cur, struct entry *e, uint64_t ts)
{
	struct netobserver_proc_event_t *ev = calloc(1, sizeof(*ev));
	bool have_type = false, have_tgid = false, have_total = false;
	if (!ev)
		return fail(cur, "out of memory for", "proc");
	e->proc = ev;
	ev->ts = ts;
	for (char *tok; (tok = next_token(cur));) {
		const char *k, *v;
		if (split_pair(cur, tok, &k, &v))
			return -1;
		uint32_t n;
		int t;
		if (strcmp(k, "ts") == 0) {
			if (parse_u64(cur, k, v, &ev->ts)) return -1;
		} else if (strcmp(k, "type") == 0) {
			if (parse_name(cur, k, v, proc_types, &t)) return -1;
			ev->type = (uint32_t)t;
			have_type = true;
		} else if (strcmp(k, "tgid") == 0) {
			if (parse_u32(cur, k, v, &ev->tgid)) return -1;
			have_tgid = true;
		} else if (strcmp(k, "ppid") == 0) {
			if (parse_u32(cur, k, v, &ev->ppid)) return -1;
		} else if (strcmp(k, "start") == 0) {
			if (parse_u64(cur, k, v, &ev->start_ns)) return -1;
		} else if (strcmp(k, "flags") == 0) {
			if (parse_u32(cur, k, v, &ev->flags)) return -1;
		} else if (strcmp(k, "cgroup_id") == 0) {
			if (parse_u64(cur, k, v, &ev->cgroup_id)) return -1;
		} else if (strcmp(k, "args_total") == 0) {
			if (parse_u32(cur, k, v, &ev->args_total)) return -1;
			have_total = true;
		} else if (strcmp(k, "comm") == 0) {
			if (parse_str(cur, k, v, ev->comm, sizeof(ev->comm) - 1, &n)) return -1;
		} else if (strcmp(k, "cgparent") == 0) {
			if (parse_str(cur, k, v, ev->cgroup_parent, sizeof(ev->cgroup_parent) - 1, &n)) return -1;
		} else if (strcmp(k, "cgleaf") == 0) {
			if (parse_str(cur, k, v, ev->cgroup_leaf, sizeof(ev->cgroup_leaf) - 1, &n)) return -1;
		} else if (strcmp(k, "args") == 0) {
			if (parse_str(cur, k, v, ev->args, sizeof(ev->args), &ev->args_size)) return -1;
		} else {
			return fail(cur, "unknown key", k);
		}
	}
	if (!have_type || !have_tgid)
		return fail(cur, "proc needs type= and tgid=", "proc");
	if (!have_total)
		ev->args_total = ev->args_size;
	return 0;
}

static int parse_entry(struct cursor *cur, const char *kind, struct entry *e, uint64_t default_ts)
{
	static uint8_t payload[CONN_DATA_MAX_SIZE];
	uint32_t payload_len = 0;
	bool have_conn = false;
	memset(e, 0, sizeof(*e));
	e->line = cur->line;
	e->repeat = 1;
	e->ts_step = 1;
	uint64_t ts = default_ts;
	union sockaddr_t addr = {0};
	struct connect_id_t conn = {0};
	int role = IsUnknown, event = -1, which = -1;
	int64_t wr = 0, rd = 0;

	if (strcmp(kind, "ctrl") == 0) {
		e->kind = ENTRY_CTRL;
	} else if (strcmp(kind, "data") == 0) {
		e->kind = ENTRY_DATA;
		e->data.protocol = ProtoUnknown;
		e->data.role = IsUnknown;
	} else if (strcmp(kind, "stats") == 0) {
		e->kind = ENTRY_STATS;
	} else if (strcmp(kind, "lost") == 0) {
		e->kind = ENTRY_LOST;
	} else if (strcmp(kind, "proc") == 0) {
		e->kind = ENTRY_PROC;
		return parse_proc(cur, e, default_ts);
	} else {
		return fail(cur, "unknown event kind", kind);
	}

	for (char *tok; (tok = next_token(cur));) {
		if (tok[0] == '"' || strncmp(tok, "hex=", 4) == 0 || strncmp(tok, "fill=", 5) == 0) {
			if (e->kind != ENTRY_DATA)
				return fail(cur, "payload on a non-data event:", tok);
			if (append_payload(cur, tok, payload, &payload_len))
				return -1;
			continue;
		}
		const char *k, *v;
		if (split_pair(cur, tok, &k, &v))
			return -1;
		uint64_t u;
		int64_t s;
		int n;
		if (strcmp(k, "ts") == 0) {
			if (parse_u64(cur, k, v, &ts)) return -1;
		} else if (strcmp(k, "repeat") == 0) {
			if (parse_u64(cur, k, v, &e->repeat)) return -1;
		} else if (strcmp(k, "ts_step") == 0) {
			if (parse_u64(cur, k, v, &e->ts_step)) return -1;
		} else if (strcmp(k, "conn") == 0) {
			if (parse_conn(cur, v, &conn)) return -1;
			have_conn = true;
		} else if (strcmp(k, "addr") == 0) {
			if (parse_addr(cur, v, &addr)) return -1;
		} else if (strcmp(k, "role") == 0) {
			if (parse_name(cur, k, v, roles, &role)) return -1;
		} else if (e->kind == ENTRY_CTRL && strcmp(k, "event") == 0) {
			if (parse_name(cur, k, v, events, &event)) return -1;
		} else if ((e->kind == ENTRY_CTRL || e->kind == ENTRY_STATS) && strcmp(k, "wr") == 0) {
			if (parse_i64(cur, k, v, &wr)) return -1;
		} else if ((e->kind == ENTRY_CTRL || e->kind == ENTRY_STATS) && strcmp(k, "rd") == 0) {
			if (parse_i64(cur, k, v, &rd)) return -1;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "dir") == 0) {
			if (parse_name(cur, k, v, directions, &n)) return -1;
			e->data.direction = n;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "proto") == 0) {
			if (parse_name(cur, k, v, protocols, &n)) return -1;
			e->data.protocol = n;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "type") == 0) {
			if (parse_name(cur, k, v, types, &n)) return -1;
			e->data.type = n;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "syscall") == 0) {
			if (parse_name(cur, k, v, syscalls, &n)) return -1;
			e->data.syscall_func = n;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "pos") == 0) {
			if (parse_u64(cur, k, v, &e->data.pos)) return -1;
			e->pos_given = true;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "org") == 0) {
			if (parse_u32(cur, k, v, &e->data.org_msg_size)) return -1;
			e->org_given = true;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "prepend") == 0) {
			if (parse_u64(cur, k, v, &u) || u > 1) return fail(cur, "bad prepend (0 or 1)", v);
			e->data.try_to_prepend = u == 1;
		} else if (e->kind == ENTRY_DATA && strcmp(k, "lenhdr") == 0) {
			if (parse_u32(cur, k, v, &e->data.length_header)) return -1;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "wr_pkts") == 0) {
			if (parse_i64(cur, k, v, &s)) return -1;
			e->stats.wr_pkts = (int32_t)s;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "rd_pkts") == 0) {
			if (parse_i64(cur, k, v, &s)) return -1;
			e->stats.rd_pkts = (int32_t)s;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "last_wr") == 0) {
			if (parse_i64(cur, k, v, &e->stats.last_output_wr_bytes)) return -1;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "last_rd") == 0) {
			if (parse_i64(cur, k, v, &e->stats.last_output_rd_bytes)) return -1;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "last_wr_pkts") == 0) {
			if (parse_i64(cur, k, v, &s)) return -1;
			e->stats.last_output_wr_pkts = (int32_t)s;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "last_rd_pkts") == 0) {
			if (parse_i64(cur, k, v, &s)) return -1;
			e->stats.last_output_rd_pkts = (int32_t)s;
		} else if (e->kind == ENTRY_STATS && strcmp(k, "events") == 0) {
			if (parse_u32(cur, k, v, &e->stats.conn_events)) return -1;
		} else if (e->kind == ENTRY_LOST && strcmp(k, "which") == 0) {
			if (parse_name(cur, k, v, handlers, &which)) return -1;
		} else if (e->kind == ENTRY_LOST && strcmp(k, "count") == 0) {
			if (parse_u64(cur, k, v, &e->lost_count)) return -1;
		} else {
			return fail(cur, "unknown key", k);
		}
	}
	if (e->repeat == 0)
		return fail(cur, "repeat must be at least 1:", kind);

	switch (e->kind) {
	case ENTRY_CTRL:
		if (!have_conn || event < 0)
			return fail(cur, "ctrl needs conn= and event=", kind);
		e->ctrl.type = event;
		e->ctrl.ts = ts;
		e->ctrl.conn_id = conn;
		if (event == EventConnect) {
			e->ctrl.connect.addr = addr;
			e->ctrl.connect.role = role;
		} else {
			e->ctrl.close.wr_bytes = wr;
			e->ctrl.close.rd_bytes = rd;
		}
		break;
	case ENTRY_DATA:
		if (!have_conn)
			return fail(cur, "data needs conn=", kind);
		e->data.ts = ts;
		e->data.conn_id = conn;
		e->data.addr = addr;
		e->data.role = role;
		e->data.msg_buf_size = payload_len;
		if (!e->org_given)
			e->data.org_msg_size = payload_len;
		if (e->data.org_msg_size < payload_len)
			return fail(cur, "org smaller than the payload:", kind);
		if (payload_len) {
			e->payload = malloc(payload_len);
			if (!e->payload)
				return fail(cur, "out of memory for", kind);
			memcpy(e->payload, payload, payload_len);
		}
		break;
	case ENTRY_STATS:
		if (!have_conn)
			return fail(cur, "stats needs conn=", kind);
		e->stats.ts = ts;
		e->stats.conn_id = conn;
		e->stats.addr = addr;
		e->stats.role = role;
		e->stats.wr_bytes = wr;
		e->stats.rd_bytes = rd;
		break;
	case ENTRY_LOST:
		if (which < 0)
			return fail(cur, "lost needs which=", kind);
		e->lost_which = which;
		break;
	case ENTRY_PROC:
		break;
	}
	return 0;
}

static uint64_t entry_ts(const struct entry *e)
{
	switch (e->kind) {
	case ENTRY_CTRL: return e->ctrl.ts;
	case ENTRY_DATA: return e->data.ts;
	case ENTRY_STATS: return e->stats.ts;
	case ENTRY_PROC: return e->proc->ts;
	case ENTRY_LOST: break;
	}
	return 0;
}

static void free_trace(void)
{
	for (size_t i = 0; i < R.n_entries; i++) {
		free(R.entries[i].payload);
		free(R.entries[i].proc);
	}
	free(R.entries);
	R.entries = NULL;
	R.n_entries = R.cursor = 0;
	R.cursor_repeat = 0;
}

static int load_trace(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		say(0, "replay: cannot open trace %s: %s", path, strerror(errno));
		return -errno;
	}
	char *line = NULL;
	size_t line_cap = 0, cap = 0;
	uint64_t last_ts = 0;
	int line_no = 0, rc = 0;
	while (getline(&line, &line_cap, f) >= 0) {
		line_no++;
		line[strcspn(line, "\r\n")] = '\0';
		struct cursor cur = {.path = path, .line = line_no, .p = line};
		char *kind = next_token(&cur);
		if (!kind)
			continue;
		if (R.n_entries == cap) {
			cap = cap ? cap * 2 : 256;
			struct entry *grown = realloc(R.entries, cap * sizeof(*grown));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			R.entries = grown;
		}
		struct entry *e = &R.entries[R.n_entries];
		if (parse_entry(&cur, kind, e, last_ts + 1)) {
			free(e->payload);
			free(e->proc);
			rc = -EINVAL;
			break;
		}
		R.n_entries++;
		if (e->kind != ENTRY_LOST)
			last_ts = entry_ts(e) + (e->repeat - 1) * e->ts_step;
	}
	free(line);
	fclose(f);
	if (rc) {
		free_trace();
		return rc;
	}
	say(1, "replay: loaded %zu trace entries from %s", R.n_entries, path);
	return 0;
}

// ---- delivery ---------------------------------------------------------------------------------

static bool protocol_enabled(enum support_proto_e p, uint32_t tgid)
{
	// 0 switches data off for everyone; the TGID_FILTER pid gets every protocol otherwise.
	if (R.protocol_filter == PROTOCOL_FILTER_UNSET || R.protocol_filter == 0)
		return false;
	if (R.tgid_filter >= 0 && tgid == (uint32_t)R.tgid_filter)
		return true;
	if (R.protocol_filter == -1)
		return true;
	int known = (p >= 1 && p < NumProto) || ((int)p >= (int)ProtoHTTP2 && (int)p < (int)NetobserverProtoEnd);
	return known && (R.protocol_filter & (1 << (p - 1)));
}

// place copies an event to where callbacks get it; poison overwrites it after the callback, because
// the pointer is dead then and anyone who kept it must see garbage, as with a reused ring slot.
static void *place(const void *ev, size_t size)
{
	memcpy(DELIVER_AT, ev, size);
	return DELIVER_AT;
}

static void poison(size_t size)
{
	memset(DELIVER_AT, POISON, size);
}

static bool deliver_ctrl(const struct conn_ctrl_event_t *ev)
{
	if (!R.ctrl_fn)
		return false;
	R.ctrl_fn(R.ctrl_ctx, place(ev, sizeof(*ev)));
	poison(sizeof(*ev));
	return true;
}

// deliver_one plays entries[cursor] once (repetition r) and reports whether a callback ran.
static bool deliver_one(const struct entry *e, uint64_t r)
{
	uint64_t ts = entry_ts(e) + r * e->ts_step;
	switch (e->kind) {
	case ENTRY_LOST:
		if (!R.lost_fn)
			return false;
		R.lost_fn(R.lost_ctx, e->lost_which, e->lost_count);
		return true;

	case ENTRY_PROC: {
		// The kernel side reports every process, whatever the filters say of its sockets.
		if (!R.proc_fn)
			return false;
		struct netobserver_proc_event_t *ev = place(e->proc, sizeof(*e->proc));
		ev->ts = ts;
		R.proc_fn(R.proc_ctx, ev);
		poison(sizeof(*e->proc));
		return true;
	}

	case ENTRY_CTRL: {
		const struct connect_id_t *id = &e->ctrl.conn_id;
		if (!process_visible(id->tgid))
			return false;
		struct conn *c = find_id(id);
		if (e->ctrl.type == EventConnect) {
			c = track_conn(id->tgid, id->fd, id->start, sampled_at(ts));
			if (!c)
				return false;
			if (!c->role_set)
				c->role = e->ctrl.connect.role;
		}
		if (!c)
			return false;
		struct conn_ctrl_event_t ev = e->ctrl;
		ev.ts = ts;
		ev.conn_id.start = c->start;
		if (ev.type == EventConnect) {
			ev.connect.role = c->role;
			if (c->addr_set)
				ev.connect.addr = c->addr;
		}
		bool sampled = c->sampled;
		if (ev.type == EventClose)
			forget_conn(c);
		return sampled && deliver_ctrl(&ev);
	}

	case ENTRY_DATA: {
		const struct connect_id_t *id = &e->data.conn_id;
		if (!process_visible(id->tgid))
			return false;
		struct conn *c = track_conn(id->tgid, id->fd, id->start, sampled_at(ts));
		if (!c)
			return false;
		int dir = e->data.direction <= DirEgress ? e->data.direction : DirUnknown;
		uint64_t pos = e->pos_given && r == 0 ? e->data.pos : c->offset[dir] + e->data.org_msg_size;
		c->offset[dir] = pos;
		if (!c->sampled || !protocol_enabled(e->data.protocol, id->tgid) || !R.data_fn)
			return false;
		struct conn_data_event_attr_t *attr = (struct conn_data_event_attr_t *)DELIVER_AT;
		memcpy(attr, &e->data, sizeof(*attr));
		attr->ts = ts;
		attr->pos = pos;
		attr->conn_id.start = c->start;
		if (c->role_set)
			attr->role = c->role;
		if (c->addr_set)
			attr->addr = c->addr;
		memcpy(DELIVER_AT + sizeof(*attr), e->payload, e->data.msg_buf_size);
		R.data_fn(R.data_ctx, (struct conn_data_event_t *)DELIVER_AT);
		poison(sizeof(*attr) + e->data.msg_buf_size);
		return true;
	}

	case ENTRY_STATS: {
		const struct connect_id_t *id = &e->stats.conn_id;
		if (!process_visible(id->tgid) || !R.stats_fn)
			return false;
		struct conn_stats_event_t ev = e->stats;
		ev.ts = ts;
		struct conn *c = find_id(id);
		if (c) {
			ev.conn_id.start = c->start;
			if (c->role_set)
				ev.role = c->role;
			if (c->addr_set)
				ev.addr = c->addr;
		}
		R.stats_fn(R.stats_ctx, place(&ev, sizeof(ev)));
		poison(sizeof(ev));
		return true;
	}
	}
	return false;
}

// ---- the ABI ----------------------------------------------------------------------------------

EXPORT void ebpf_setup_net_data_process_func(net_data_process_func_t func, void *custom_data)
{
	R.data_fn = func;
	R.data_ctx = custom_data;
}

EXPORT void ebpf_setup_net_event_process_func(net_ctrl_process_func_t func, void *custom_data)
{
	R.ctrl_fn = func;
	R.ctrl_ctx = custom_data;
}

EXPORT void ebpf_setup_net_statistics_process_func(net_statistics_process_func_t func, void *custom_data)
{
	R.stats_fn = func;
	R.stats_ctx = custom_data;
}

EXPORT void ebpf_setup_net_lost_func(net_lost_func_t func, void *custom_data)
{
	R.lost_fn = func;
	R.lost_ctx = custom_data;
}

// The optional process extension (include/libebpf.h): `proc` lines of the trace reach func.
EXPORT void netobserver_setup_process_func(netobserver_proc_func_t func, void *custom_data)
{
	R.proc_fn = func;
	R.proc_ctx = custom_data;
}

EXPORT void ebpf_setup_print_func(net_print_fn_t func)
{
	R.print_fn = func;
}

EXPORT const char *netobserver_libebpf_version(void)
{
	return "netobserver-replay " NETOBSERVER_VERSION;
}

// Whether every trace entry has been delivered: lets an offline run end when its recording does.
EXPORT int netobserver_replay_finished(void)
{
	return R.initialised && R.cursor >= R.n_entries && R.n_pending == 0;
}

#ifdef REPLAY_HANG
/* The hanging variant (bin/test/libebpf-hang.so): the call named by NETOBSERVER_REPLAY_HANG
 * (init, start, poll or stop) never returns, as a library stuck in the kernel would not. */
static void hang_in(const char *call)
{
	const char *where = getenv("NETOBSERVER_REPLAY_HANG");
	if (!where || strcmp(where, call) != 0)
		return;
	say(1, "replay: ebpf_%s hangs (NETOBSERVER_REPLAY_HANG)", call);
	for (;;)
		sleep(3600);
}
#else
static void hang_in(const char *call)
{
	(void)call;
}
#endif

static long own_offset(void *sym)
{
	Dl_info info;
	if (!dladdr(sym, &info) || !info.dli_saddr)
		return -1;
	return (long)((char *)info.dli_saddr - (char *)info.dli_fbase);
}

EXPORT int32_t ebpf_init(char *btf, int32_t btf_size, char *so, int32_t so_size, long off_cleanup_dog,
			 long off_update_conn_addr, long off_disable_process, long off_update_conn_role)
{
	hang_in("init");
	if (!so || so_size <= 0) {
		say(0, "replay: ebpf_init needs the path of the loaded library");
		return -EINVAL;
	}
	// Every init starts a new record: the same loaded library may serve one test after another.
	if (R.stub_log) {
		fclose(R.stub_log);
		R.stub_log = NULL;
	}
	const char *stubs = getenv("NETOBSERVER_REPLAY_STUBS");
	if (stubs && *stubs) {
		R.stub_log = fopen(stubs, "a");
		if (!R.stub_log) {
			say(0, "replay: cannot open stub log %s: %s", stubs, strerror(errno));
			return -errno;
		}
	}
	long want[4] = {own_offset((void *)ebpf_cleanup_dog), own_offset((void *)ebpf_update_conn_addr),
			own_offset((void *)ebpf_disable_process), own_offset((void *)ebpf_update_conn_role)};
	long got[4] = {off_cleanup_dog, off_update_conn_addr, off_disable_process, off_update_conn_role};
	bool offsets_ok = memcmp(want, got, sizeof(want)) == 0;
	record("init btf=%.*s so=%.*s offsets=%s", btf && btf_size > 0 ? btf_size : 1,
	       btf && btf_size > 0 ? btf : "-", so_size, so, offsets_ok ? "ok" : "wrong");
	if (!offsets_ok) {
		say(0, "replay: stub offsets %lx,%lx,%lx,%lx do not match this library's %lx,%lx,%lx,%lx", got[0],
		    got[1], got[2], got[3], want[0], want[1], want[2], want[3]);
		return -EINVAL;
	}
	const char *trace = getenv("NETOBSERVER_REPLAY_TRACE");
	if (!trace || !*trace) {
		say(0, "replay: NETOBSERVER_REPLAY_TRACE names no trace file");
		return -EINVAL;
	}
	free_trace();
	int rc = load_trace(trace);
	if (rc)
		return rc;
	if (R.map_fd < 0)
		R.map_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	R.protocol_filter = PROTOCOL_FILTER_UNSET;
	R.tgid_filter = -1;
	R.self_filter = -1;
	R.port_filter = -1;
	R.sampling = DATA_SAMPLE_ALL;
	R.n_conns = R.n_disabled = R.n_pending = 0;
	R.initialised = true;
	return 0;
}

EXPORT void ebpf_config(int32_t opt1, int32_t opt2, int32_t params_count, void **params, int32_t *params_len)
{
	if (!R.initialised) {
		say(0, "replay: ebpf_config before ebpf_init");
		return;
	}
	if (!params || !params_len || params_count < 1 || !params[0]) {
		record("config opt=%d opt2=%d repush", opt1, opt2);
		return;
	}
	int32_t v = *(int32_t *)params[0];
	record("config opt=%d opt2=%d value=%d len=%d", opt1, opt2, v, params_len[0]);
	switch (opt1) {
	case PROTOCOL_FILTER: R.protocol_filter = v; break;
	case TGID_FILTER: R.tgid_filter = v; break;
	case SELF_FILTER: R.self_filter = v; break;
	case PORT_FILTER: R.port_filter = v; break;
	case DATA_SAMPLING: R.sampling = v < 0 ? DATA_SAMPLE_ALL : v; break;
	case PERF_BUFFER_PAGE:
		if (opt2 >= CTRL_HAND && opt2 <= STAT_HAND)
			R.pages[opt2] = v;
		break;
	default: say(0, "replay: unknown ebpf_config option %d", opt1);
	}
}

EXPORT int32_t ebpf_start(void)
{
	hang_in("start");
	if (!R.initialised) {
		say(0, "replay: ebpf_start before ebpf_init");
		return -EINVAL;
	}
	record("start");
	R.started = true;
	R.detached = false;
	return 0;
}

EXPORT int32_t ebpf_stop(void)
{
	hang_in("stop");
	record("stop");
	R.started = false;
	return 0;
}

/* The trace plays the kernel: after a detach nothing more of it happens until the next start. */
EXPORT void netobserver_detach(void)
{
	record("detach");
	R.detached = true;
}

EXPORT int32_t ebpf_poll_events(int32_t max_events, int32_t *stop_flag)
{
	hang_in("poll");
	if (stop_flag && *stop_flag)
		return EBPF_POLL_STOPPED;
	if (!R.started)
		return -EINVAL;
	int32_t delivered = 0;
	size_t sent = 0;
	while (delivered < max_events && sent < R.n_pending) {
		if (deliver_ctrl(&R.pending[sent]))
			delivered++;
		sent++;
	}
	memmove(R.pending, R.pending + sent, (R.n_pending - sent) * sizeof(R.pending[0]));
	R.n_pending -= sent;
	while (delivered < max_events && R.cursor < R.n_entries && !R.detached) {
		if (stop_flag && *stop_flag)
			break;
		const struct entry *e = &R.entries[R.cursor];
		if (deliver_one(e, R.cursor_repeat))
			delivered++;
		if (++R.cursor_repeat == e->repeat) {
			R.cursor++;
			R.cursor_repeat = 0;
		}
	}
	return delivered;
}

EXPORT int32_t ebpf_get_fd(void)
{
	return R.map_fd;
}

EXPORT int32_t ebpf_get_next_key(int32_t fd, const void *key, void *next_key)
{
	if (fd != R.map_fd || fd < 0) {
		errno = EBADF;
		return -1;
	}
	size_t next = 0;
	if (key) {
		uint64_t k;
		memcpy(&k, key, sizeof(k));
		for (size_t i = 0; i < R.n_conns; i++) {
			if (R.conns[i].tgid == (uint32_t)(k >> 32) && R.conns[i].fd == (int32_t)(uint32_t)k) {
				next = i + 1;
				break;
			}
		}
	}
	if (next >= R.n_conns) {
		errno = ENOENT;
		return -1;
	}
	uint64_t k = (uint64_t)R.conns[next].tgid << 32 | (uint32_t)R.conns[next].fd;
	memcpy(next_key, &k, sizeof(k));
	return 0;
}

STUB void ebpf_cleanup_dog(void *ids, int32_t count)
{
	char line[64 * 40 + 64], *p = line;
	p += sprintf(p, "cleanup_dog count=%d ids=", count);
	for (int32_t i = 0; i < count && i < 64; i++) {
		struct connect_id_t id;
		memcpy(&id, (char *)ids + (size_t)i * sizeof(id), sizeof(id));
		p += sprintf(p, "%s%d:%u:%llu", i ? "," : "", id.fd, id.tgid, (unsigned long long)id.start);
		struct conn *c = find_conn(id.tgid, id.fd);
		if (c)
			forget_conn(c);
	}
	record("%s", line);
}

EXPORT void ebpf_delete_map_value(void *ids, int32_t count)
{
	record("delete_map_value count=%d", count);
	ebpf_cleanup_dog(ids, count);
}

STUB void ebpf_update_conn_addr(struct connect_id_t *id, union sockaddr_t *addr, uint16_t local_port, bool drop)
{
	char conn[64], hex[2 * sizeof(*addr) + 1];
	format_conn(conn, sizeof(conn), id);
	for (size_t i = 0; i < sizeof(*addr); i++)
		sprintf(hex + 2 * i, "%02x", ((const uint8_t *)addr)[i]);
	record("update_conn_addr conn=%s addr=%s local_port=%u drop=%d", conn, hex, local_port, drop);
	if (!process_visible(id->tgid))
		return;
	struct conn *c = find_conn(id->tgid, id->fd);
	if (c && id->start && c->start != id->start)
		return; // the fd was reused: the call is about a connection that is gone
	if (c) {
		c->addr = *addr;
		c->addr_set = true;
		c->sampled = !drop;
		return;
	}
	c = track_conn(id->tgid, id->fd, id->start, !drop);
	if (!c)
		return;
	c->addr = *addr;
	c->addr_set = true;
	if (!drop && R.n_pending < MAX_PENDING) {
		struct conn_ctrl_event_t *ev = &R.pending[R.n_pending++];
		memset(ev, 0, sizeof(*ev));
		ev->type = EventConnect;
		ev->ts = id->start;
		ev->conn_id = *id;
		ev->connect.addr = *addr;
		ev->connect.role = IsUnknown;
	}
}

STUB void ebpf_disable_process(uint32_t pid, bool drop)
{
	record("disable_process pid=%u drop=%d", pid, drop);
	if (pid == 0)
		return;
	for (size_t i = 0; i < R.n_disabled; i++) {
		if (R.disabled[i] == pid) {
			if (drop && R.tgid_filter == -1)
				R.disabled[i] = R.disabled[--R.n_disabled];
			return;
		}
	}
	if (!drop && R.n_disabled < MAX_DISABLED)
		R.disabled[R.n_disabled++] = pid;
}

STUB void ebpf_update_conn_role(struct connect_id_t *id, enum support_role_e role)
{
	char conn[64];
	format_conn(conn, sizeof(conn), id);
	record("update_conn_role conn=%s role=%d", conn, role);
	struct conn *c = find_id(id);
	if (c) {
		c->role = role;
		c->role_set = true;
	}
}
