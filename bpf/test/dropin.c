// SPDX-License-Identifier: Apache-2.0
/*
 * Drop-in test of a libebpf.so, independent of any Go code: it loads the library the way iLogtail's
 * observer does (dlopen, dlsym of all 17 symbols, stub offsets from dladdr, the same call order)
 * and asserts the exact events produced by real traffic between two network namespaces it creates
 * (10.201.0.0/24 and fd00:201::/64 on a veth pair; nothing leaves the machine).
 *
 * Traffic comes from forked workers with known pids, one set per scenario, driven over pipes
 * (pipes are not sockets, so the control channel itself produces no events), plus real clients and
 * servers: curl -> nginx, dig -> dnsmasq.
 *
 * Usage: bpf-dropin path/to/libebpf.so           run every scenario (needs root)
 *        bpf-dropin path/to/libebpf.so --consume  benchmark consumer: poll like iLogtail, discard
 * DROPIN_BTF=FILE passes FILE to ebpf_init as the kernel's BTF (iLogtail's path for kernels without
 * /sys/kernel/btf/vmlinux); DROPIN_VERBOSE=1 shows every library message; DROPIN_WAIT_SCALE=N
 * multiplies every wait for events and processes (an emulated guest, make kernel-matrix under TCG).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libebpf.h"

/* ---- the library, as iLogtail binds it ---------------------------------------------------- */

static struct libebpf_symbols lib;

static const char *const symbols[LIBEBPF_SYMBOL_COUNT] = LIBEBPF_SYMBOL_NAMES;

/* ---- failure handling and cleanup ------------------------------------------------------------ */

#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];
static int nchildren;
static char ns_a[32], ns_b[32], tmpdir[64];
static int verbose;

static void cleanup(void)
{
	char cmd[256];

	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	if (ns_a[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b);
		if (system(cmd)) { /* nothing more to do: the namespaces may not exist yet */
		}
		ns_a[0] = 0;
	}
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd)) {
		}
		tmpdir[0] = 0;
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static const char *scenario = "setup";

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dropin: FAIL [%s]: ", scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1); /* atexit runs cleanup */
}

#define CHECK(cond, ...)                     \
	do {                                 \
		if (!(cond))                 \
			fail(__VA_ARGS__);   \
	} while (0)

static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	CHECK(rc == 0, "command failed (%d): %s", rc, cmd);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wait_scale = 1;

/* The deadline of a wait of ms milliseconds (times DROPIN_WAIT_SCALE). */
static uint64_t after_ms(uint64_t ms)
{
	return now_ms() + ms * wait_scale;
}

/* ---- event store ----------------------------------------------------------------------------- */

enum { EV_CTRL, EV_DATA, EV_STATS };

struct event {
	int kind;
	struct conn_ctrl_event_t ctrl;
	struct conn_stats_event_t stats;
	struct conn_data_event_attr_t attr;
	unsigned char *msg;
};

static struct event *events;
static size_t nevents, cap_events;
static uint64_t lost_total, lost_by_type[3];
static int32_t stop_flag;
static int print_calls;

static struct event *push_event(int kind)
{
	if (nevents == cap_events) {
		cap_events = cap_events ? cap_events * 2 : 4096;
		events = realloc(events, cap_events * sizeof(*events));
		CHECK(events, "out of memory");
	}
	memset(&events[nevents], 0, sizeof(events[0]));
	events[nevents].kind = kind;
	return &events[nevents++];
}

/* Event pointers are valid only during the callback and only 4-byte aligned: copy bytes out. */
static void on_ctrl(void *custom, struct conn_ctrl_event_t *ev)
{
	CHECK(custom == &events, "ctrl callback got the wrong custom pointer");
	memcpy(&push_event(EV_CTRL)->ctrl, ev, sizeof(*ev));
}

static void on_stats(void *custom, struct conn_stats_event_t *ev)
{
	CHECK(custom == &events, "stats callback got the wrong custom pointer");
	memcpy(&push_event(EV_STATS)->stats, ev, sizeof(*ev));
}

static void on_data(void *custom, struct conn_data_event_t *ev)
{
	struct event *e;
	uint32_t n;

	CHECK(custom == &events, "data callback got the wrong custom pointer");
	e = push_event(EV_DATA);
	memcpy(&e->attr, &ev->attr, sizeof(e->attr));
	n = e->attr.msg_buf_size;
	CHECK(n <= CONN_DATA_MAX_SIZE, "msg_buf_size %u > %d", n, CONN_DATA_MAX_SIZE);
	e->msg = malloc(n ? n : 1);
	CHECK(e->msg, "out of memory");
	memcpy(e->msg, ev->msg, n);
}

static bool expect_loss;

static void on_lost(void *custom, enum callback_type_e type, uint64_t n)
{
	(void)custom;
	if (!expect_loss)
		fprintf(stderr, "dropin: lost %llu events of buffer %d\n", (unsigned long long)n, type);
	lost_total += n;
	if (type >= CTRL_HAND && type <= STAT_HAND)
		lost_by_type[type] += n;
}

static char last_print[1024];
static bool verbose_errors = true; /* off while provoking errors on purpose */

/* The tp_btf hook set exports HTTP bodies as sizes (bpf/README.md, "HTTP bodies"). */
static bool bodies_cut;
/* Bytes of the first buffer of the syscall that starts the stream checked, when the headers are
 * split across buffers (0: the whole syscall): the library only looks for them in the first. */
static size_t first_buf;

static int on_print(int16_t level, const char *fmt, va_list ap)
{
	print_calls++;
	vsnprintf(last_print, sizeof(last_print), fmt, ap);
	if (strstr(last_print, "syscall hooks: tp_btf"))
		bodies_cut = true;
	else if (strstr(last_print, "syscall hooks: "))
		bodies_cut = false;
	if (verbose || (level == 0 && verbose_errors))
		fprintf(stderr, "libebpf[%d]: %s", level, last_print);
	return 0;
}

static bool running; /* between ebpf_start and ebpf_stop */

static void pump(void)
{
	int32_t n;

	if (!running)
		return;
	do {
		n = lib.poll_events(100, &stop_flag);
		CHECK(n >= 0, "ebpf_poll_events returned %d", n);
	} while (n == 100);
}

/* ---- workers: forked processes in a namespace, driven over pipes ------------------------------ */

enum op {
	OP_LISTEN,
	OP_ACCEPT,
	OP_CONNECT,
	OP_SEND,
	OP_RECV,
	OP_CLOSE,
	OP_SHUTDOWN,
};

enum how { H_WRITE, H_SEND, H_SENDTO, H_WRITEV, H_SENDMSG, H_SENDMMSG, H_READ, H_RECV, H_RECVFROM, H_READV,
	   H_RECVMSG, H_RECVMMSG, H_ACCEPT_NOADDR };

struct cmd {
	int op;
	int how;
	int fd;
	int family; /* AF_INET, AF_INET6, AF_UNIX */
	int type;   /* SOCK_STREAM, SOCK_DGRAM */
	int port;
	int parts;  /* writev segments, sendmmsg messages */
	int bufsz;  /* receive buffer per syscall */
	size_t len; /* payload bytes that follow, or bytes to receive */
	char addr[108];
};

struct reply {
	long ret; /* bytes, fd, or -errno */
	int port; /* local port (connect) or peer port (accept, recvfrom) */
	int syscalls;
};

struct worker {
	pid_t pid;
	int cmd_fd;
	int rep_fd;
};

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(90);
		c += w;
		n -= (size_t)w;
	}
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static socklen_t make_addr(const struct cmd *c, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (c->family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(c->port);
		inet_pton(AF_INET, c->addr, &a->sin_addr);
		return sizeof(*a);
	}
	if (c->family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(c->port);
		inet_pton(AF_INET6, c->addr, &a->sin6_addr);
		return sizeof(*a);
	}
	struct sockaddr_un *u = (void *)ss;
	u->sun_family = AF_UNIX;
	snprintf(u->sun_path, sizeof(u->sun_path), "%s", c->addr);
	return sizeof(*u);
}

static int port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void do_send(const struct cmd *c, const char *data, struct reply *r)
{
	struct sockaddr_storage ss;
	socklen_t sl = make_addr(c, &ss);
	struct iovec iov[64];
	struct mmsghdr mm[8];
	int parts = c->parts > 0 ? c->parts : 1;
	size_t each = c->len / (size_t)parts;

	for (int i = 0; i < parts && i < 64; i++) {
		iov[i].iov_base = (char *)data + (size_t)i * each;
		iov[i].iov_len = i == parts - 1 ? c->len - (size_t)i * each : each;
	}
	r->syscalls = 1;
	switch (c->how) {
	case H_WRITE:
		r->ret = write(c->fd, data, c->len);
		break;
	case H_SEND:
		r->ret = send(c->fd, data, c->len, 0);
		break;
	case H_SENDTO:
		r->ret = sendto(c->fd, data, c->len, 0, (struct sockaddr *)&ss, sl);
		break;
	case H_WRITEV:
		r->ret = writev(c->fd, iov, parts);
		break;
	case H_SENDMSG: {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)parts };
		if (c->port) {
			m.msg_name = &ss;
			m.msg_namelen = sl;
		}
		r->ret = sendmsg(c->fd, &m, 0);
		break;
	}
	case H_SENDMMSG: /* one message per part, one segment each */
		memset(mm, 0, sizeof(mm));
		for (int i = 0; i < parts && i < 8; i++) {
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		r->ret = sendmmsg(c->fd, mm, (unsigned)parts, 0);
		if (r->ret > 0) {
			long bytes = 0;
			for (int i = 0; i < r->ret; i++)
				bytes += mm[i].msg_len;
			r->ret = bytes;
		}
		break;
	}
	if (r->ret < 0)
		r->ret = -errno;
}

/* Receives c->len bytes (or c->parts datagrams) in syscalls of at most c->bufsz bytes. */
static void do_recv(const struct cmd *c, struct reply *r)
{
	static char buf[1 << 20];
	size_t got = 0, want = c->len;
	int bufsz = c->bufsz > 0 && c->bufsz <= (int)sizeof(buf) ? c->bufsz : 65536;

	r->syscalls = 0;
	while (got < want) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct iovec iov[2] = { { buf, (size_t)bufsz / 2 }, { buf + bufsz / 2, (size_t)(bufsz - bufsz / 2) } };
		struct msghdr m = { .msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t n;

		memset(&ss, 0, sizeof(ss));
		switch (c->how) {
		case H_READ:
			n = read(c->fd, buf, (size_t)bufsz);
			break;
		case H_RECV:
			n = recv(c->fd, buf, (size_t)bufsz, 0);
			break;
		case H_RECVFROM:
			n = recvfrom(c->fd, buf, (size_t)bufsz, 0, (struct sockaddr *)&ss, &sl);
			break;
		case H_READV:
			n = readv(c->fd, iov, 2);
			break;
		case H_RECVMSG:
			n = recvmsg(c->fd, &m, 0);
			break;
		default: { /* H_RECVMMSG: up to 8 datagrams of bufsz/8 bytes */
			struct mmsghdr mm[8];
			struct iovec v[8];
			memset(mm, 0, sizeof(mm));
			for (int i = 0; i < 8; i++) {
				v[i].iov_base = buf + (size_t)i * (size_t)(bufsz / 8);
				v[i].iov_len = (size_t)(bufsz / 8);
				mm[i].msg_hdr.msg_iov = &v[i];
				mm[i].msg_hdr.msg_iovlen = 1;
			}
			n = recvmmsg(c->fd, mm, 8, MSG_WAITFORONE, NULL);
			if (n > 0) {
				long bytes = 0;
				for (int i = 0; i < n; i++)
					bytes += mm[i].msg_len;
				n = bytes;
			}
		}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->ret = n < 0 ? -errno : (long)got;
			return;
		}
		r->syscalls++;
		got += (size_t)n;
		if (!r->port)
			r->port = port_of(&ss);
	}
	r->ret = (long)got;
}

static void worker_loop(int cmd_fd, int rep_fd)
{
	static char payload[1 << 20];
	struct cmd c;

	while (!read_all(cmd_fd, &c, sizeof(c))) {
		struct reply r = { 0 };
		struct sockaddr_storage ss;
		socklen_t sl;

		if (c.op == OP_SEND && (c.len > sizeof(payload) || read_all(cmd_fd, payload, c.len)))
			_exit(91);
		switch (c.op) {
		case OP_LISTEN: {
			int one = 1, fd = socket(c.family, c.type, 0);
			sl = make_addr(&c, &ss);
			if (c.family == AF_UNIX)
				unlink(c.addr);
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) ||
			    (c.type == SOCK_STREAM && listen(fd, 16)))
				r.ret = -errno;
			else
				r.ret = fd;
			break;
		}
		case OP_ACCEPT:
			sl = sizeof(ss);
			memset(&ss, 0, sizeof(ss));
			if (c.how == H_ACCEPT_NOADDR) {
				r.ret = accept4(c.fd, NULL, NULL, SOCK_CLOEXEC);
				if (r.ret >= 0) {
					sl = sizeof(ss);
					getpeername((int)r.ret, (struct sockaddr *)&ss, &sl);
				}
			} else {
				r.ret = accept(c.fd, (struct sockaddr *)&ss, &sl);
			}
			if (r.ret < 0)
				r.ret = -errno;
			r.port = port_of(&ss);
			break;
		case OP_CONNECT: {
			int fd = socket(c.family, c.type, 0);
			sl = make_addr(&c, &ss);
			if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl)) {
				r.ret = -errno;
				break;
			}
			r.ret = fd;
			sl = sizeof(ss);
			getsockname(fd, (struct sockaddr *)&ss, &sl);
			r.port = port_of(&ss);
			break;
		}
		case OP_SEND:
			do_send(&c, payload, &r);
			break;
		case OP_RECV:
			do_recv(&c, &r);
			break;
		case OP_CLOSE:
			r.ret = close(c.fd) ? -errno : 0;
			break;
		case OP_SHUTDOWN:
			r.ret = shutdown(c.fd, SHUT_WR) ? -errno : 0;
			break;
		}
		write_all(rep_fd, &r, sizeof(r));
	}
	_exit(0);
}

static void enter_netns(const char *ns)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		_exit(92);
	close(fd);
}

static void track_child(pid_t pid)
{
	CHECK(nchildren < MAX_CHILDREN, "too many children");
	children[nchildren++] = pid;
}

static struct worker spawn_worker(const char *ns)
{
	int c[2], r[2];
	struct worker w;

	CHECK(!pipe2(c, O_CLOEXEC) && !pipe2(r, O_CLOEXEC), "pipe: %s", strerror(errno));
	w.pid = fork();
	CHECK(w.pid >= 0, "fork: %s", strerror(errno));
	if (!w.pid) {
		/* Drop every inherited descriptor: other workers' pipe ends would keep their pipes
		 * from reaching EOF, and the library's perf buffers are the agent's, not ours. */
		for (int fd = 3; fd < 4096; fd++)
			if (fd != c[0] && fd != r[1])
				close(fd);
		enter_netns(ns);
		worker_loop(c[0], r[1]);
	}
	close(c[0]);
	close(r[1]);
	w.cmd_fd = c[1];
	w.rep_fd = r[0];
	track_child(w.pid);
	return w;
}

static void stop_worker(struct worker *w)
{
	close(w->cmd_fd);
	close(w->rep_fd);
	waitpid(w->pid, NULL, 0);
	for (int i = 0; i < nchildren; i++)
		if (children[i] == w->pid)
			children[i] = 0;
}

/* Sends a command and pumps events until the worker answers (bounded: 5 s). */
static struct reply call(struct worker *w, struct cmd c, const void *payload)
{
	struct reply r;
	uint64_t deadline = after_ms(5000);

	write_all(w->cmd_fd, &c, sizeof(c));
	if (c.op == OP_SEND)
		write_all(w->cmd_fd, payload, c.len);
	for (;;) {
		struct pollfd p = { .fd = w->rep_fd, .events = POLLIN };
		pump();
		if (poll(&p, 1, 10) == 1)
			break;
		CHECK(now_ms() < deadline, "worker %d did not answer op %d within 5 s", w->pid, c.op);
	}
	CHECK(!read_all(w->rep_fd, &r, sizeof(r)), "worker %d died", w->pid);
	return r;
}

/* Two calls in flight: a blocking receive on one worker while another sends. */
static void call_async(struct worker *w, struct cmd c)
{
	write_all(w->cmd_fd, &c, sizeof(c));
}

static struct reply wait_reply(struct worker *w)
{
	struct reply r;
	uint64_t deadline = after_ms(5000);

	for (;;) {
		struct pollfd p = { .fd = w->rep_fd, .events = POLLIN };
		pump();
		if (poll(&p, 1, 10) == 1)
			break;
		CHECK(now_ms() < deadline, "worker %d did not answer within 5 s", w->pid);
	}
	CHECK(!read_all(w->rep_fd, &r, sizeof(r)), "worker %d died", w->pid);
	return r;
}

static int w_listen(struct worker *w, int family, int type, const char *addr, int port)
{
	struct cmd c = { .op = OP_LISTEN, .family = family, .type = type, .port = port };
	struct reply r;

	snprintf(c.addr, sizeof(c.addr), "%s", addr);
	r = call(w, c, NULL);
	CHECK(r.ret >= 0, "listen on %s port %d: %s", addr, port, strerror((int)-r.ret));
	return (int)r.ret;
}

static struct reply w_connect(struct worker *w, int family, int type, const char *addr, int port)
{
	struct cmd c = { .op = OP_CONNECT, .family = family, .type = type, .port = port };
	struct reply r;

	snprintf(c.addr, sizeof(c.addr), "%s", addr);
	r = call(w, c, NULL);
	CHECK(r.ret >= 0, "connect to %s port %d: %s", addr, port, strerror((int)-r.ret));
	return r;
}

static long w_send(struct worker *w, int fd, int how, const void *data, size_t len, int parts)
{
	struct cmd c = { .op = OP_SEND, .fd = fd, .how = how, .len = len, .parts = parts };
	struct reply r = call(w, c, data);

	CHECK(r.ret == (long)len, "send of %zu bytes (how %d) returned %ld", len, how, r.ret);
	return r.ret;
}

static long w_sendto(struct worker *w, int fd, int how, const void *data, size_t len, int family,
		     const char *addr, int port)
{
	struct cmd c = { .op = OP_SEND, .fd = fd, .how = how, .len = len, .family = family, .port = port };
	struct reply r;

	snprintf(c.addr, sizeof(c.addr), "%s", addr);
	r = call(w, c, data);
	CHECK(r.ret == (long)len, "sendto of %zu bytes returned %ld", len, r.ret);
	return r.ret;
}

static struct cmd recv_cmd(int fd, int how, size_t len, int bufsz)
{
	struct cmd c = { .op = OP_RECV, .fd = fd, .how = how, .len = len, .bufsz = bufsz };
	return c;
}

static void w_close(struct worker *w, int fd)
{
	struct cmd c = { .op = OP_CLOSE, .fd = fd };
	CHECK(call(w, c, NULL).ret == 0, "close failed");
}

/* ---- event queries ---------------------------------------------------------------------------- */

/* Polls until pred() holds, bounded by 5 s. */
static void wait_until(int (*pred)(void *), void *arg, const char *what)
{
	uint64_t deadline = after_ms(5000);

	for (;;) {
		pump();
		if (pred(arg))
			return;
		CHECK(now_ms() < deadline, "timed out after 5 s waiting for %s", what);
		usleep(10000);
	}
}

/* Lets in-flight events arrive before asserting that something did NOT happen. */
static void settle(void)
{
	uint64_t end = after_ms(300);
	while (now_ms() < end) {
		pump();
		usleep(10000);
	}
}

static uint32_t ev_tgid(const struct event *e)
{
	return e->kind == EV_CTRL ? e->ctrl.conn_id.tgid : e->kind == EV_DATA ? e->attr.conn_id.tgid
									 : e->stats.conn_id.tgid;
}

static int32_t ev_fd(const struct event *e)
{
	return e->kind == EV_CTRL ? e->ctrl.conn_id.fd : e->kind == EV_DATA ? e->attr.conn_id.fd
									 : e->stats.conn_id.fd;
}

static size_t count(int kind, pid_t tgid, int fd)
{
	size_t n = 0;
	for (size_t i = 0; i < nevents; i++)
		if (events[i].kind == kind && ev_tgid(&events[i]) == (uint32_t)tgid && (fd < 0 || ev_fd(&events[i]) == fd))
			n++;
	return n;
}

static size_t count_any(pid_t tgid)
{
	return count(EV_CTRL, tgid, -1) + count(EV_DATA, tgid, -1) + count(EV_STATS, tgid, -1);
}

static struct event *find_ctrl(pid_t tgid, int fd, int type)
{
	for (size_t i = 0; i < nevents; i++)
		if (events[i].kind == EV_CTRL && events[i].ctrl.conn_id.tgid == (uint32_t)tgid &&
		    events[i].ctrl.conn_id.fd == fd && (int)events[i].ctrl.type == type)
			return &events[i];
	return NULL;
}

static struct event *final_stats(pid_t tgid, int fd)
{
	for (size_t i = 0; i < nevents; i++)
		if (events[i].kind == EV_STATS && events[i].stats.conn_id.tgid == (uint32_t)tgid &&
		    events[i].stats.conn_id.fd == fd && events[i].stats.conn_events == 1)
			return &events[i];
	return NULL;
}

struct conn_ref {
	pid_t tgid;
	int fd;
};

static int has_final_stats(void *arg)
{
	struct conn_ref *c = arg;
	return final_stats(c->tgid, c->fd) != NULL;
}

static void wait_closed(pid_t tgid, int fd)
{
	struct conn_ref c = { tgid, fd };
	char what[96];

	snprintf(what, sizeof(what), "the final stats of connection %d/%d", tgid, fd);
	wait_until(has_final_stats, &c, what);
}

struct data_query {
	pid_t tgid;
	int fd;
	int dir;
	size_t bytes; /* wait until this many org bytes arrived */
};

static size_t data_org_bytes(pid_t tgid, int fd, int dir)
{
	size_t n = 0;
	for (size_t i = 0; i < nevents; i++)
		if (events[i].kind == EV_DATA && events[i].attr.conn_id.tgid == (uint32_t)tgid &&
		    events[i].attr.conn_id.fd == fd && (int)events[i].attr.direction == dir)
			n += events[i].attr.org_msg_size;
	return n;
}

static int has_data(void *arg)
{
	struct data_query *q = arg;
	return data_org_bytes(q->tgid, q->fd, q->dir) >= q->bytes;
}

static void wait_data(pid_t tgid, int fd, int dir, size_t bytes)
{
	struct data_query q = { tgid, fd, dir, bytes };
	char what[128];

	snprintf(what, sizeof(what), "%zu %s data bytes of connection %d/%d", bytes, dir == DirEgress ? "egress" : "ingress",
		 tgid, fd);
	wait_until(has_data, &q, what);
}

/* The payload bytes the library should copy of a chunk [off, off + org) of an HTTP stream want
 * that starts with one message: all of them (at most a chunk's worth), except, when bodies are cut,
 * the tail of a chunk that ends inside the body announced by the message's Content-Length. The
 * test streams start every message at a syscall start with the headers in its first buffer. */
static size_t want_buf(const unsigned char *want, size_t len, int proto, size_t off, size_t org)
{
	size_t n = org < CONN_DATA_MAX_SIZE ? org : CONN_DATA_MAX_SIZE, h = len < 4096 ? len : 4096;

	if (first_buf && first_buf < h)
		h = first_buf;
	const char *end, *cl;
	size_t from, to;
	char head[4097];

	if (!bodies_cut || proto != ProtoHTTP)
		return n;
	memcpy(head, want, h);
	head[h] = 0;
	end = memmem(head, h, "\r\n\r\n", 4);
	cl = strcasestr(head, "\r\ncontent-length:");
	if (!end || !cl || cl > end)
		return n;
	from = (size_t)(end - head) + 4;
	to = from + strtoul(cl + 17, NULL, 10);
	if (to == from || off + org <= from || off + org > to)
		return n;
	return from > off ? from - off : 0;
}

/* Checks the data events of one direction against the bytes really sent: every syscall's events
 * share its pos, their org sizes sum to the syscall's bytes (pos deltas), payloads match the
 * stream at their offset, and nothing is missing. */
static void check_stream(pid_t tgid, int fd, int dir, const unsigned char *want, size_t len, int proto, int role,
			 int func)
{
	uint64_t syscall_start = 0, pos = 0;
	size_t off = 0, nev = 0;

	wait_data(tgid, fd, dir, len);
	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		if (e->kind != EV_DATA || e->attr.conn_id.tgid != (uint32_t)tgid || e->attr.conn_id.fd != fd ||
		    (int)e->attr.direction != dir)
			continue;
		nev++;
		CHECK((int)e->attr.protocol == proto, "data event protocol %d, want %d", e->attr.protocol, proto);
		CHECK((int)e->attr.role == role, "data event role %d, want %d", e->attr.role, role);
		if (func >= 0)
			CHECK((int)e->attr.syscall_func == func, "data event syscall %d, want %d", e->attr.syscall_func,
			      func);
		if (e->attr.pos != pos) { /* first event of a new syscall */
			CHECK(off == pos, "syscall ending at %llu covered only %zu bytes", (unsigned long long)pos, off);
			CHECK(e->attr.pos > pos, "pos went back from %llu to %llu", (unsigned long long)pos,
			      (unsigned long long)e->attr.pos);
			syscall_start = pos;
			pos = e->attr.pos;
		}
		CHECK(e->attr.msg_buf_size == want_buf(want, len, proto, off, e->attr.org_msg_size),
		      "msg_buf_size %u for org_msg_size %u at stream offset %zu, want %zu", e->attr.msg_buf_size,
		      e->attr.org_msg_size, off, want_buf(want, len, proto, off, e->attr.org_msg_size));
		CHECK(off + e->attr.org_msg_size <= len, "data beyond the %zu bytes sent", len);
		CHECK(!memcmp(e->msg, want + off, e->attr.msg_buf_size), "payload differs at stream offset %zu", off);
		off += e->attr.org_msg_size;
		(void)syscall_start;
	}
	CHECK(nev > 0, "no data events for %d/%d dir %d", tgid, fd, dir);
	CHECK(off == len && pos == len, "data events cover %zu bytes up to pos %llu, %zu were sent", off,
	      (unsigned long long)pos, len);
}

static void check_addr4(const union sockaddr_t *a, const char *ip, int port, const char *what)
{
	struct in_addr want;

	inet_pton(AF_INET, ip, &want);
	CHECK(a->sa.family == AF_INET, "%s: family %u, want AF_INET", what, a->sa.family);
	CHECK(a->in4.addr == want.s_addr, "%s: address %08x, want %s", what, a->in4.addr, ip);
	CHECK(ntohs(a->sa.port) == port, "%s: port %u, want %d", what, ntohs(a->sa.port), port);
}

static void check_addr6(const union sockaddr_t *a, const char *ip, int port, const char *what)
{
	struct in6_addr want;

	inet_pton(AF_INET6, ip, &want);
	CHECK(a->sa.family == AF_INET6, "%s: family %u, want AF_INET6", what, a->sa.family);
	CHECK(!memcmp(a->in6.addr, &want, 16), "%s: address differs from %s", what, ip);
	CHECK(ntohs(a->sa.port) == port, "%s: port %u, want %d", what, ntohs(a->sa.port), port);
}

static void check_final(pid_t tgid, int fd, long wr, long rd, int wr_pkts, int rd_pkts, int role)
{
	struct event *s = final_stats(tgid, fd);

	CHECK(s, "no final stats for %d/%d", tgid, fd);
	CHECK(s->stats.wr_bytes == wr && s->stats.rd_bytes == rd,
	      "final stats of %d/%d: wr %lld rd %lld, want %ld %ld", tgid, fd, (long long)s->stats.wr_bytes,
	      (long long)s->stats.rd_bytes, wr, rd);
	CHECK(s->stats.wr_pkts == wr_pkts && s->stats.rd_pkts == rd_pkts,
	      "final stats of %d/%d: %d/%d syscalls, want %d/%d", tgid, fd, s->stats.wr_pkts, s->stats.rd_pkts,
	      wr_pkts, rd_pkts);
	if (role)
		CHECK((int)s->stats.role == role, "final stats role %d, want %d", s->stats.role, role);
}

static void check_close(pid_t tgid, int fd, long wr, long rd)
{
	struct event *c = find_ctrl(tgid, fd, EventClose);

	CHECK(c, "no EventClose for %d/%d", tgid, fd);
	CHECK(c->ctrl.close.wr_bytes == wr && c->ctrl.close.rd_bytes == rd,
	      "EventClose of %d/%d: wr %lld rd %lld, want %ld %ld", tgid, fd, (long long)c->ctrl.close.wr_bytes,
	      (long long)c->ctrl.close.rd_bytes, wr, rd);
}

static struct connect_id_t conn_id_of(pid_t tgid, int fd)
{
	for (size_t i = 0; i < nevents; i++)
		if (ev_tgid(&events[i]) == (uint32_t)tgid && ev_fd(&events[i]) == fd)
			return events[i].kind == EV_CTRL ? events[i].ctrl.conn_id
			       : events[i].kind == EV_DATA ? events[i].attr.conn_id
							   : events[i].stats.conn_id;
	fail("no event of connection %d/%d", tgid, fd);
}

/* ---- configuration ---------------------------------------------------------------------------- */

static void config(int opt1, int opt2, int32_t value)
{
	void *params[1] = { &value };
	int32_t lens[1] = { sizeof(value) };

	lib.config(opt1, opt2, 1, params, lens);
}

/* The stubs are called from a thread other than the one that ran ebpf_init, as iLogtail does. */
struct stub_call {
	int which;
	struct connect_id_t id;
	union sockaddr_t addr;
	uint32_t arg;
	bool flag;
	struct connect_id_t *ids;
	int n;
};

static void *stub_thread(void *arg)
{
	struct stub_call *s = arg;

	switch (s->which) {
	case 0:
		lib.delete_map_value(s->ids, s->n);
		break;
	case 1:
		lib.update_conn_addr(&s->id, &s->addr, 0, s->flag);
		break;
	case 2:
		lib.disable_process(s->arg, s->flag);
		break;
	case 3:
		lib.update_conn_role(&s->id, (enum support_role_e)s->arg);
		break;
	}
	return NULL;
}

static void call_stub(struct stub_call s)
{
	pthread_t t;

	CHECK(!pthread_create(&t, NULL, stub_thread, &s), "pthread_create");
	pthread_join(t, NULL);
}

static bool map_has(pid_t tgid, int fd)
{
	int mfd = lib.get_fd();
	uint64_t key, next, want = ((uint64_t)(uint32_t)tgid << 32) | (uint32_t)fd;
	void *prev = NULL;

	CHECK(mfd >= 0, "ebpf_get_fd returned %d", mfd);
	while (lib.get_next_key(mfd, prev, &next) == 0) {
		if (next == want)
			return true;
		key = next;
		prev = &key;
	}
	CHECK(errno == ENOENT, "ebpf_get_next_key ended with %s, want ENOENT", strerror(errno));
	return false;
}

/* ---- scenarios -------------------------------------------------------------------------------- */

#define A_IP "10.201.0.1"
#define B_IP "10.201.0.2"
#define A_IP6 "fd00:201::1"
#define B_IP6 "fd00:201::2"

static unsigned char big[1 << 20];

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* An HTTP request head followed by a binary body of body_len bytes, in big[]. */
static size_t http_request(size_t body_len, unsigned seed)
{
	int h = snprintf((char *)big, 256, "POST /upload HTTP/1.1\r\nHost: b\r\nContent-Length: %zu\r\n\r\n", body_len);
	fill_pattern(big + h, body_len, seed);
	return (size_t)h + body_len;
}

static const char http_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/* TCP client/server over family: exact connect/close/stats/data for both ends. */
static void scenario_tcp(int family, const char *server_ip, const char *client_ip, int port, const char *name)
{
	struct worker srv = spawn_worker(ns_b), cli = spawn_worker(ns_a);
	int lfd = w_listen(&srv, family, SOCK_STREAM, family == AF_INET6 && !strchr(server_ip, ':') ? "::" : server_ip,
			   port);
	struct cmd acc = { .op = OP_ACCEPT, .fd = lfd };
	struct reply cr, ar, rr;
	size_t req_len = http_request(70000, 7);
	unsigned char *req = malloc(req_len);
	int cfd, sfd;
	size_t resp_len = sizeof(http_response) - 1;

	scenario = name;
	memcpy(req, big, req_len);
	call_async(&srv, acc);
	cr = w_connect(&cli, family, SOCK_STREAM, server_ip, port);
	ar = wait_reply(&srv);
	CHECK(ar.ret >= 0, "accept failed");
	cfd = (int)cr.ret;
	sfd = (int)ar.ret;
	CHECK(ar.port == cr.port, "accept saw port %d, client bound %d", ar.port, cr.port);

	/* One write of 70 KiB: 4 events, the 4th carrying the remainder's size but 16 KiB of it. */
	w_send(&cli, cfd, H_WRITE, req, req_len, 1);
	call_async(&srv, recv_cmd(sfd, H_READ, req_len, 65536));
	rr = wait_reply(&srv);
	CHECK(rr.ret == (long)req_len, "server read %ld of %zu", rr.ret, req_len);
	w_send(&srv, sfd, H_SEND, http_response, resp_len, 1);
	call_async(&cli, recv_cmd(cfd, H_RECV, resp_len, 4096));
	struct reply cr2 = wait_reply(&cli);
	CHECK(cr2.ret == (long)resp_len, "client received %ld", cr2.ret);
	w_close(&cli, cfd);
	w_close(&srv, sfd);
	wait_closed(cli.pid, cfd);
	wait_closed(srv.pid, sfd);

	/* Client side. */
	struct event *c = find_ctrl(cli.pid, cfd, EventConnect);
	CHECK(c, "no EventConnect for the client");
	CHECK(c->ctrl.connect.role == IsClient, "client connect role %d", c->ctrl.connect.role);
	if (family == AF_INET)
		check_addr4(&c->ctrl.connect.addr, server_ip, port, "client connect addr");
	else
		check_addr6(&c->ctrl.connect.addr, strchr(server_ip, ':') ? server_ip : "::ffff:" B_IP, port,
			    "client connect addr");
	size_t n = 0;
	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		if (e->kind != EV_DATA || e->attr.conn_id.tgid != (uint32_t)cli.pid || e->attr.direction != DirEgress)
			continue;
		CHECK(n < 4, "more than 4 events for one 70 KiB write");
		CHECK(e->attr.pos == req_len, "write event pos %llu, want %zu", (unsigned long long)e->attr.pos, req_len);
		CHECK(e->attr.org_msg_size == (n < 3 ? 16384 : req_len - 3 * 16384), "event %zu org_msg_size %u", n,
		      e->attr.org_msg_size);
		CHECK(e->attr.msg_buf_size == want_buf(req, req_len, ProtoHTTP, n * 16384, e->attr.org_msg_size),
		      "event %zu msg_buf_size %u", n, e->attr.msg_buf_size);
		CHECK(!memcmp(e->msg, req + n * 16384, e->attr.msg_buf_size), "event %zu payload differs", n);
		CHECK(e->attr.protocol == ProtoHTTP && e->attr.role == IsClient && e->attr.type == TypeRequest &&
			      e->attr.syscall_func == FuncWrite,
		      "write event proto %d role %d type %d func %d", e->attr.protocol, e->attr.role, e->attr.type,
		      e->attr.syscall_func);
		CHECK(!memcmp(&e->attr.conn_id, &c->ctrl.conn_id, sizeof(c->ctrl.conn_id)), "conn_id differs from connect");
		n++;
	}
	CHECK(n == 4, "%zu events for one 70 KiB write, want 4", n);
	check_stream(cli.pid, cfd, DirIngress, (const unsigned char *)http_response, resp_len, ProtoHTTP, IsClient,
		     FuncRecv);
	check_close(cli.pid, cfd, (long)req_len, (long)resp_len);
	check_final(cli.pid, cfd, (long)req_len, (long)resp_len, 1, cr2.syscalls, IsClient);

	/* Server side: reads of up to 64 KiB each give the whole request, byte for byte. */
	c = find_ctrl(srv.pid, sfd, EventConnect);
	CHECK(c, "no EventConnect for the server");
	CHECK(c->ctrl.connect.role == IsServer, "server connect role %d", c->ctrl.connect.role);
	if (family == AF_INET)
		check_addr4(&c->ctrl.connect.addr, client_ip, cr.port, "server connect addr");
	else
		check_addr6(&c->ctrl.connect.addr, client_ip, cr.port, "server connect addr");
	check_stream(srv.pid, sfd, DirIngress, req, req_len, ProtoHTTP, IsServer, FuncRead);
	check_stream(srv.pid, sfd, DirEgress, (const unsigned char *)http_response, resp_len, ProtoHTTP, IsServer,
		     FuncSend);
	check_close(srv.pid, sfd, (long)resp_len, (long)req_len);
	check_final(srv.pid, sfd, (long)resp_len, (long)req_len, 1, rr.syscalls, IsServer);
	/* The listening socket is no connection. */
	CHECK(count_any(srv.pid) == count(EV_CTRL, srv.pid, sfd) + count(EV_DATA, srv.pid, sfd) +
					    count(EV_STATS, srv.pid, sfd),
	      "events for a socket other than the accepted one");
	free(req);
	stop_worker(&cli);
	stop_worker(&srv);
	printf("ok   %s\n", name);
}

/* Periodic stats: every 128 syscalls (and 128 KiB) a stats event with consistent deltas. */
static void scenario_stats_interval(void)
{
	struct worker srv = spawn_worker(ns_b), cli = spawn_worker(ns_a);
	int lfd = w_listen(&srv, AF_INET, SOCK_STREAM, B_IP, 7010);
	struct cmd acc = { .op = OP_ACCEPT, .fd = lfd, .how = H_ACCEPT_NOADDR };
	struct reply cr, ar;
	char msg[100];
	int n_stats = 0;
	int64_t last_wr = 0;
	int32_t last_pkts = 0;

	scenario = "stats every 128 syscalls; accept4 without address";
	call_async(&srv, acc);
	cr = w_connect(&cli, AF_INET, SOCK_STREAM, B_IP, 7010);
	ar = wait_reply(&srv);
	memset(msg, 'x', sizeof(msg));
	for (int i = 0; i < 300; i++)
		w_send(&cli, (int)cr.ret, H_WRITE, msg, sizeof(msg), 1);
	w_close(&cli, (int)cr.ret);
	wait_closed(cli.pid, (int)cr.ret);
	for (size_t i = 0; i < nevents; i++) {
		struct conn_stats_event_t *s = &events[i].stats;
		if (events[i].kind != EV_STATS || s->conn_id.tgid != (uint32_t)cli.pid)
			continue;
		CHECK(s->last_output_wr_bytes == last_wr && s->last_output_wr_pkts == last_pkts,
		      "stats event %d: last_output %lld/%d, previous event had %lld/%d", n_stats,
		      (long long)s->last_output_wr_bytes, s->last_output_wr_pkts, (long long)last_wr, last_pkts);
		CHECK(s->wr_bytes == (int64_t)s->wr_pkts * 100, "stats bytes %lld for %d writes", (long long)s->wr_bytes,
		      s->wr_pkts);
		if (!s->conn_events)
			CHECK(s->wr_pkts - s->last_output_wr_pkts == 128, "periodic stats after %d syscalls, want 128",
			      s->wr_pkts - s->last_output_wr_pkts);
		last_wr = s->wr_bytes;
		last_pkts = s->wr_pkts;
		n_stats++;
	}
	CHECK(n_stats == 3, "%d stats events for 300 writes, want 2 periodic + 1 final", n_stats);
	check_final(cli.pid, (int)cr.ret, 30000, 0, 300, 0, IsClient);
	/* accept4(fd, NULL, NULL): the server learns the peer from the kernel socket. */
	struct event *c = find_ctrl(srv.pid, (int)ar.ret, EventConnect);
	CHECK(c, "no EventConnect for accept4 without address");
	check_addr4(&c->ctrl.connect.addr, A_IP, cr.port, "accept4 NULL addr");
	stop_worker(&cli);
	stop_worker(&srv);
	printf("ok   %s\n", scenario);
}

/* Data events of one connection and direction. */
static size_t count_data(pid_t tgid, int fd, int dir)
{
	size_t n = 0;

	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		n += e->kind == EV_DATA && e->attr.conn_id.tgid == (uint32_t)tgid && e->attr.conn_id.fd == fd &&
		     (int)e->attr.direction == dir;
	}
	return n;
}

/* writev/readv/sendmsg/recvmsg: consecutive segments gathered into chunks of at most 16384 bytes. */
static void scenario_iovec(void)
{
	struct worker srv = spawn_worker(ns_b), cli = spawn_worker(ns_a);
	int lfd = w_listen(&srv, AF_INET, SOCK_STREAM, B_IP, 7020);
	struct cmd acc = { .op = OP_ACCEPT, .fd = lfd };
	struct reply cr, ar, rr;
	size_t len = http_request(40000, 3), each;
	unsigned char *req = malloc(len);
	size_t n = 0, off = 0;

	scenario = "writev/readv/sendmsg segments";
	memcpy(req, big, len);
	call_async(&srv, acc);
	cr = w_connect(&cli, AF_INET, SOCK_STREAM, B_IP, 7020);
	ar = wait_reply(&srv);
	w_send(&cli, (int)cr.ret, H_WRITEV, req, len, 5);
	wait_data(cli.pid, (int)cr.ret, DirEgress, len);
	/* Five segments of 8000 (the last 8000 + remainder): two fit a chunk, the third does not. With
	 * the body bound the body's segments are not read: the headers and the body's size are one
	 * event. */
	each = len / 5;
	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		if (e->kind != EV_DATA || e->attr.conn_id.tgid != (uint32_t)cli.pid)
			continue;
		size_t chunk = bodies_cut ? len : n < 2 ? 2 * each : len - 4 * each;
		CHECK(e->attr.syscall_func == FuncWriteV && e->attr.pos == len && e->attr.org_msg_size == chunk &&
			      e->attr.msg_buf_size == want_buf(req, len, ProtoHTTP, off, chunk) &&
			      !memcmp(e->msg, req + off, e->attr.msg_buf_size),
		      "writev chunk %zu: func %d pos %llu org %u buf %u", n, e->attr.syscall_func,
		      (unsigned long long)e->attr.pos, e->attr.org_msg_size, e->attr.msg_buf_size);
		off += chunk;
		n++;
	}
	CHECK(n == (bodies_cut ? 1u : 3u) && off == len, "%zu events covering %zu bytes for a 5-segment writev of %zu", n, off, len);
	call_async(&srv, recv_cmd((int)ar.ret, H_READV, len, 65536));
	rr = wait_reply(&srv);
	CHECK(rr.ret == (long)len, "readv got %ld", rr.ret);
	check_stream(srv.pid, (int)ar.ret, DirIngress, req, len, ProtoHTTP, IsServer, FuncReadV);
	/* sendmsg on a connected socket, recvmsg on the other end. */
	w_send(&srv, (int)ar.ret, H_SENDMSG, http_response, sizeof(http_response) - 1, 2);
	call_async(&cli, recv_cmd((int)cr.ret, H_RECVMSG, sizeof(http_response) - 1, 4096));
	CHECK(wait_reply(&cli).ret == (long)sizeof(http_response) - 1, "recvmsg");
	wait_data(cli.pid, (int)cr.ret, DirIngress, sizeof(http_response) - 1);
	first_buf = (sizeof(http_response) - 1) / 2; /* the headers end in the second segment: sent whole */
	check_stream(srv.pid, (int)ar.ret, DirEgress, (const unsigned char *)http_response, sizeof(http_response) - 1,
		     ProtoHTTP, IsServer, FuncSendMsg);
	first_buf = 0;
	check_stream(cli.pid, (int)cr.ret, DirIngress, (const unsigned char *)http_response, sizeof(http_response) - 1,
		     ProtoHTTP, IsClient, FuncRecvMsg);
	CHECK(count_data(srv.pid, (int)ar.ret, DirEgress) == 1, "a 2-segment sendmsg gave %zu events, want 1",
	      count_data(srv.pid, (int)ar.ret, DirEgress));
	free(req);
	stop_worker(&cli);
	stop_worker(&srv);
	printf("ok   %s\n", scenario);
}

/* A DNS query as a stub resolver sends it. */
static size_t dns_query(unsigned char *p, uint16_t id)
{
	static const unsigned char q[] = { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4, 't', 'e', 's', 't', 7,
					   'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1 };
	memcpy(p, q, sizeof(q));
	p[0] = (unsigned char)(id >> 8);
	p[1] = (unsigned char)id;
	return sizeof(q);
}

/* DNS over UDP on unconnected sockets (sendto/recvfrom with addresses) and on a connected one
 * (sendmmsg of two queries, received with recvmmsg). */
static void scenario_udp_dns(void)
{
	struct worker srv = spawn_worker(ns_b), cli = spawn_worker(ns_a);
	int sfd = w_listen(&srv, AF_INET, SOCK_DGRAM, B_IP, 5353);
	int ufd = w_listen(&cli, AF_INET, SOCK_DGRAM, A_IP, 0);
	unsigned char q[64], q2[128], resp[64];
	size_t ql = dns_query(q, 0x1234), rl;
	struct reply rr;
	struct event *c;

	scenario = "DNS over UDP, unconnected and connected, sendmmsg/recvmmsg";
	w_sendto(&cli, ufd, H_SENDTO, q, ql, AF_INET, B_IP, 5353);
	call_async(&srv, recv_cmd(sfd, H_RECVFROM, ql, 512));
	rr = wait_reply(&srv);
	CHECK(rr.ret == (long)ql, "recvfrom got %ld", rr.ret);
	memcpy(resp, q, ql);
	resp[2] = 0x81;
	resp[3] = 0x80;
	rl = ql;
	w_sendto(&srv, sfd, H_SENDTO, resp, rl, AF_INET, A_IP, rr.port);
	call_async(&cli, recv_cmd(ufd, H_RECVFROM, rl, 512));
	CHECK(wait_reply(&cli).ret == (long)rl, "client recvfrom");
	wait_data(cli.pid, ufd, DirIngress, rl);
	wait_data(srv.pid, sfd, DirEgress, rl);

	c = find_ctrl(cli.pid, ufd, EventConnect);
	CHECK(c && c->ctrl.connect.role == IsUnknown, "first sendto announces the socket with role unknown");
	check_addr4(&c->ctrl.connect.addr, B_IP, 5353, "sendto connect addr");
	check_stream(cli.pid, ufd, DirEgress, q, ql, ProtoDNS, IsClient, FuncSendTo);
	check_stream(cli.pid, ufd, DirIngress, resp, rl, ProtoDNS, IsClient, FuncRecvFrom);
	c = find_ctrl(srv.pid, sfd, EventConnect);
	CHECK(c, "first recvfrom announces the server socket");
	check_addr4(&c->ctrl.connect.addr, A_IP, rr.port, "recvfrom connect addr");
	check_stream(srv.pid, sfd, DirIngress, q, ql, ProtoDNS, IsServer, FuncRecvFrom);
	check_stream(srv.pid, sfd, DirEgress, resp, rl, ProtoDNS, IsServer, FuncSendTo);
	for (size_t i = 0; i < nevents; i++)
		if (events[i].kind == EV_DATA && events[i].attr.conn_id.tgid == (uint32_t)srv.pid)
			check_addr4(&events[i].attr.addr, A_IP, rr.port, "server data event addr");

	/* Connected UDP: two queries in one sendmmsg, as glibc's resolver sends A and AAAA. */
	struct reply cr = w_connect(&cli, AF_INET, SOCK_DGRAM, B_IP, 5353);
	size_t q2l = dns_query(q2, 0x1111);
	q2l += dns_query(q2 + q2l, 0x2222);
	w_send(&cli, (int)cr.ret, H_SENDMMSG, q2, q2l, 2);
	call_async(&srv, recv_cmd(sfd, H_RECVMMSG, q2l, 4096));
	struct reply mr = wait_reply(&srv);
	CHECK(mr.ret == (long)q2l, "recvmmsg got %ld", mr.ret);
	wait_data(srv.pid, sfd, DirIngress, ql + q2l);
	c = find_ctrl(cli.pid, (int)cr.ret, EventConnect);
	CHECK(c && c->ctrl.connect.role == IsClient, "connected UDP socket: EventConnect as client");
	check_stream(cli.pid, (int)cr.ret, DirEgress, q2, q2l, ProtoDNS, IsClient, FuncSendMmsg);
	CHECK(count(EV_DATA, cli.pid, (int)cr.ret) == 2, "sendmmsg of 2 messages: %zu events",
	      count(EV_DATA, cli.pid, (int)cr.ret));
	memcpy(big, q, ql);
	memcpy(big + ql, q2, q2l);
	check_stream(srv.pid, sfd, DirIngress, big, ql + q2l, ProtoDNS, IsServer, -1);
	w_close(&cli, (int)cr.ret);
	w_close(&cli, ufd);
	w_close(&srv, sfd);
	wait_closed(cli.pid, (int)cr.ret);
	wait_closed(srv.pid, sfd);
	check_final(cli.pid, (int)cr.ret, (long)q2l, 0, 1, 0, IsClient);
	check_final(srv.pid, sfd, (long)rl, (long)(ql + q2l), 1, rr.syscalls + mr.syscalls, IsServer);
	stop_worker(&cli);
	stop_worker(&srv);
	printf("ok   %s\n", scenario);
}

static void scenario_unix(void)
{
	struct worker srv = spawn_worker(ns_b), cli = spawn_worker(ns_b);
	char path[108];
	int lfd;
	struct cmd acc;
	struct reply cr, ar;
	size_t len = http_request(100, 5);

	scenario = "AF_UNIX stream";
	snprintf(path, sizeof(path), "%s/unix.sock", tmpdir);
	lfd = w_listen(&srv, AF_UNIX, SOCK_STREAM, path, 0);
	acc = (struct cmd){ .op = OP_ACCEPT, .fd = lfd };
	call_async(&srv, acc);
	cr = w_connect(&cli, AF_UNIX, SOCK_STREAM, path, 0);
	ar = wait_reply(&srv);
	memcpy(big + 4096, big, len);
	w_send(&cli, (int)cr.ret, H_SEND, big + 4096, len, 1);
	call_async(&srv, recv_cmd((int)ar.ret, H_RECV, len, 4096));
	CHECK(wait_reply(&srv).ret == (long)len, "unix recv");
	w_close(&cli, (int)cr.ret);
	w_close(&srv, (int)ar.ret);
	wait_closed(cli.pid, (int)cr.ret);
	wait_closed(srv.pid, (int)ar.ret);
	struct event *c = find_ctrl(cli.pid, (int)cr.ret, EventConnect);
	CHECK(c && c->ctrl.connect.addr.sa.family == AF_UNIX && c->ctrl.connect.role == IsClient, "unix client connect");
	c = find_ctrl(srv.pid, (int)ar.ret, EventConnect);
	CHECK(c && c->ctrl.connect.addr.sa.family == AF_UNIX && c->ctrl.connect.role == IsServer, "unix server connect");
	check_stream(cli.pid, (int)cr.ret, DirEgress, big + 4096, len, ProtoHTTP, IsClient, FuncSend);
	check_stream(srv.pid, (int)ar.ret, DirIngress, big + 4096, len, ProtoHTTP, IsServer, FuncRecv);
	check_final(cli.pid, (int)cr.ret, (long)len, 0, 1, 0, IsClient);
	stop_worker(&cli);
	stop_worker(&srv);
	printf("ok   %s\n", scenario);
}

/* A connection made before ebpf_start: no EventConnect, the address comes from the kernel socket. */
static struct worker pre_srv, pre_cli;
static struct reply pre_cr, pre_ar;

static void prestart_open(void)
{
	int lfd;
	struct cmd acc;

	pre_srv = spawn_worker(ns_b);
	pre_cli = spawn_worker(ns_a);
	lfd = w_listen(&pre_srv, AF_INET, SOCK_STREAM, B_IP, 7030);
	acc = (struct cmd){ .op = OP_ACCEPT, .fd = lfd };
	call_async(&pre_srv, acc);
	pre_cr = w_connect(&pre_cli, AF_INET, SOCK_STREAM, B_IP, 7030);
	pre_ar = wait_reply(&pre_srv);
	CHECK(pre_ar.ret >= 0, "pre-start accept");
}

static void scenario_prestart(void)
{
	size_t len = http_request(10, 9);
	unsigned char req[256];
	int cfd = (int)pre_cr.ret, sfd = (int)pre_ar.ret;

	scenario = "connection opened before ebpf_start";
	memcpy(req, big, len);
	w_send(&pre_cli, cfd, H_WRITE, req, len, 1);
	call_async(&pre_srv, recv_cmd(sfd, H_READ, len, 4096));
	CHECK(wait_reply(&pre_srv).ret == (long)len, "pre-start read");
	wait_data(pre_cli.pid, cfd, DirEgress, len);
	wait_data(pre_srv.pid, sfd, DirIngress, len);
	CHECK(!find_ctrl(pre_cli.pid, cfd, EventConnect), "EventConnect for a connection found by its data");
	check_stream(pre_cli.pid, cfd, DirEgress, req, len, ProtoHTTP, IsClient, FuncWrite);
	check_stream(pre_srv.pid, sfd, DirIngress, req, len, ProtoHTTP, IsServer, FuncRead);
	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		if (e->kind != EV_DATA)
			continue;
		if (e->attr.conn_id.tgid == (uint32_t)pre_cli.pid)
			check_addr4(&e->attr.addr, B_IP, 7030, "pre-start client data addr");
		if (e->attr.conn_id.tgid == (uint32_t)pre_srv.pid)
			check_addr4(&e->attr.addr, A_IP, pre_cr.port, "pre-start server data addr");
	}
	w_close(&pre_cli, cfd);
	wait_closed(pre_cli.pid, cfd);
	check_final(pre_cli.pid, cfd, (long)len, 0, 1, 0, IsClient);
	check_close(pre_cli.pid, cfd, (long)len, 0);
	stop_worker(&pre_cli);
	stop_worker(&pre_srv);
	printf("ok   %s\n", scenario);
}

/* A short HTTP exchange from a fresh client; returns the client fd. */
struct exchange {
	struct worker cli, srv;
	int cfd, sfd;
	int port;
};

static struct exchange open_pair(int port)
{
	struct exchange x;
	struct cmd acc;
	int lfd;

	x.srv = spawn_worker(ns_b);
	x.cli = spawn_worker(ns_a);
	lfd = w_listen(&x.srv, AF_INET, SOCK_STREAM, B_IP, port);
	acc = (struct cmd){ .op = OP_ACCEPT, .fd = lfd };
	call_async(&x.srv, acc);
	struct reply cr = w_connect(&x.cli, AF_INET, SOCK_STREAM, B_IP, port);
	x.cfd = (int)cr.ret;
	x.port = cr.port;
	x.sfd = (int)wait_reply(&x.srv).ret;
	return x;
}

static void pair_send(struct exchange *x, const void *p, size_t n)
{
	w_send(&x->cli, x->cfd, H_WRITE, p, n, 1);
	call_async(&x->srv, recv_cmd(x->sfd, H_READ, n, 65536));
	CHECK(wait_reply(&x->srv).ret == (long)n, "server read");
}

static void close_pair(struct exchange *x)
{
	w_close(&x->cli, x->cfd);
	w_close(&x->srv, x->sfd);
	wait_closed(x->cli.pid, x->cfd);
	stop_worker(&x->cli);
	stop_worker(&x->srv);
}

static const char get_req[] = "GET /index.html HTTP/1.1\r\nHost: b\r\n\r\n";

/* One chunk of a syscall: its bytes on the wire and the bytes the tp_btf set copies of them (the
 * other sets copy everything). */
struct chunk_want {
	size_t org, kept;
};

/* Checks the data events of one direction, in order, against the chunks expected. */
static void check_chunks(pid_t tgid, int fd, int dir, const struct chunk_want *want, size_t n)
{
	size_t k = 0, total = 0;

	for (size_t i = 0; i < n; i++)
		total += want[i].org;
	wait_data(tgid, fd, dir, total);
	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		size_t kept;

		if (e->kind != EV_DATA || e->attr.conn_id.tgid != (uint32_t)tgid || e->attr.conn_id.fd != fd ||
		    (int)e->attr.direction != dir)
			continue;
		CHECK(k < n, "more than %zu data events", n);
		kept = bodies_cut ? want[k].kept : want[k].org < CONN_DATA_MAX_SIZE ? want[k].org : CONN_DATA_MAX_SIZE;
		CHECK(e->attr.org_msg_size == want[k].org && e->attr.msg_buf_size == kept,
		      "%s event %zu: org %u buf %u, want org %zu buf %zu", dir == DirEgress ? "egress" : "ingress", k,
		      e->attr.org_msg_size, e->attr.msg_buf_size, want[k].org, kept);
		k++;
	}
	CHECK(k == n, "%zu data events, want %zu", k, n);
}

/* The tp_btf set's HTTP body bound at its edges: a body announced by Content-Length is counted,
 * not copied, within the syscall and across later ones; a message that starts inside what looked
 * like a body (a HEAD reply) is a message; a chunk that runs past a body's end (pipelining), two
 * Content-Lengths, 304 replies and chunked bodies are copied whole. */
static void scenario_http_bodies(void)
{
	struct exchange x;
	static char a[256], d[256], f[256], g[256], h[256];
	static const char c[] = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
	static const char e[] = "GET /d HTTP/1.1\r\nHost: b\r\n\r\n";
	static const char r304[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n";
	static const char r200[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
	static const char rchunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	static const char rmore[] = "bytes after a chunked body";
	size_t la, ld, lf, lg, lh;

	scenario = "HTTP bodies as sizes";
	x = open_pair(7070);
	la = (size_t)snprintf(a, sizeof(a), "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 30000\r\n\r\n");
	fill_pattern(big, 30000, 21);
	memcpy(big + 65536, a, la);
	memcpy(big + 65536 + la, big, 10000);
	pair_send(&x, big + 65536, la + 10000); /* headers and the first 10000 body bytes */
	pair_send(&x, big + 10000, 20000);      /* the rest of the body: two chunks */
	pair_send(&x, c, sizeof(c) - 1);
	ld = (size_t)snprintf(d, sizeof(d), "PUT /c HTTP/1.1\r\nHost: b\r\nContent-Length: 100000\r\n\r\n");
	pair_send(&x, d, ld); /* a body that never comes */
	pair_send(&x, e, sizeof(e) - 1);
	lf = (size_t)snprintf(f, sizeof(f), "POST /e HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789%s", c);
	pair_send(&x, f, lf);
	lg = (size_t)snprintf(g, sizeof(g), "POST /g HTTP/1.1\r\ncontent-length:7\r\n\r\n1234567");
	pair_send(&x, g, lg);
	lh = (size_t)snprintf(h, sizeof(h), "POST /h HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
	pair_send(&x, h, lh);
	const struct chunk_want cw[] = {
		{ la + 10000, la }, { 16384, 0 }, { 20000 - 16384, 0 }, { sizeof(c) - 1, sizeof(c) - 1 }, { ld, ld },
		{ sizeof(e) - 1, sizeof(e) - 1 }, { lf, lf }, { lg, lg - 7 }, { lh, lh },
	};
	check_chunks(x.cli.pid, x.cfd, DirEgress, cw, sizeof(cw) / sizeof(cw[0]));

	const char *resp[] = { r304, r200, rchunked, rmore };
	for (size_t i = 0; i < 4; i++) {
		size_t n = strlen(resp[i]);
		w_send(&x.srv, x.sfd, H_WRITE, resp[i], n, 1);
		call_async(&x.cli, recv_cmd(x.cfd, H_READ, n, 65536));
		CHECK(wait_reply(&x.cli).ret == (long)n, "client read");
	}
	const struct chunk_want sw[] = {
		{ sizeof(r304) - 1, sizeof(r304) - 1 },
		{ sizeof(r200) - 1, sizeof(r200) - 1 - 4 },
		{ sizeof(rchunked) - 1, sizeof(rchunked) - 1 },
		{ sizeof(rmore) - 1, sizeof(rmore) - 1 },
	};
	check_chunks(x.srv.pid, x.sfd, DirEgress, sw, sizeof(sw) / sizeof(sw[0]));
	check_chunks(x.cli.pid, x.cfd, DirIngress, sw, sizeof(sw) / sizeof(sw[0]));
	close_pair(&x);
	printf("ok   %s%s\n", scenario, bodies_cut ? "" : " (this hook set copies bodies whole)");
}

static void scenario_filters(void)
{
	static const char raw[] = "\x01\x02\x03 not any protocol \x04\x05";
	struct exchange x, y;

	scenario = "SELF_FILTER";
	{
		int sv[2];
		CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
		CHECK(write(sv[0], get_req, sizeof(get_req) - 1) == sizeof(get_req) - 1, "self write");
		char buf[128];
		CHECK(read(sv[1], buf, sizeof(buf)) > 0, "self read");
		close(sv[0]);
		close(sv[1]);
		settle();
		CHECK(count_any(getpid()) == 0, "%zu events from the agent's own process", count_any(getpid()));
	}
	printf("ok   %s\n", scenario);

	scenario = "TGID_FILTER";
	x = open_pair(7040);
	y = open_pair(7041);
	config(TGID_FILTER, 0, x.cli.pid);
	size_t y_before = count_any(y.cli.pid);
	w_send(&x.cli, x.cfd, H_WRITE, raw, sizeof(raw) - 1, 1);
	w_send(&y.cli, y.cfd, H_WRITE, raw, sizeof(raw) - 1, 1);
	wait_data(x.cli.pid, x.cfd, DirEgress, sizeof(raw) - 1);
	check_stream(x.cli.pid, x.cfd, DirEgress, (const unsigned char *)raw, sizeof(raw) - 1, ProtoUnknown, IsClient,
		     FuncWrite);
	w_close(&y.cli, y.cfd);
	settle();
	CHECK(count_any(y.cli.pid) == y_before, "events from a process outside TGID_FILTER");
	config(TGID_FILTER, 0, -1);
	close_pair(&x);
	stop_worker(&y.cli);
	stop_worker(&y.srv);
	printf("ok   %s\n", scenario);

	scenario = "PROTOCOL_FILTER 0: stats only";
	config(PROTOCOL_FILTER, 0, 0);
	x = open_pair(7042);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	close_pair(&x);
	CHECK(count(EV_DATA, x.cli.pid, -1) == 0 && count(EV_DATA, x.srv.pid, -1) == 0, "data events with PROTOCOL_FILTER 0");
	check_final(x.cli.pid, x.cfd, sizeof(get_req) - 1, 0, 1, 0, IsClient);
	CHECK(find_ctrl(x.cli.pid, x.cfd, EventConnect), "ctrl events still flow with PROTOCOL_FILTER 0");
	printf("ok   %s\n", scenario);

	scenario = "PROTOCOL_FILTER without HTTP";
	config(PROTOCOL_FILTER, 0, 1 << (ProtoRedis - 1));
	x = open_pair(7043);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	close_pair(&x);
	CHECK(count(EV_DATA, x.cli.pid, -1) == 0, "HTTP data with only Redis enabled");
	config(PROTOCOL_FILTER, 0, -1);
	printf("ok   %s\n", scenario);

	scenario = "DATA_SAMPLING 0: stats only";
	config(DATA_SAMPLING, 0, 0);
	x = open_pair(7044);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	close_pair(&x);
	CHECK(count(EV_DATA, x.cli.pid, -1) == 0 && count(EV_CTRL, x.cli.pid, -1) == 0,
	      "data or ctrl events of an unsampled connection");
	check_final(x.cli.pid, x.cfd, sizeof(get_req) - 1, 0, 1, 0, IsClient);
	config(DATA_SAMPLING, 0, 100);
	printf("ok   %s\n", scenario);
}

static void scenario_stubs(void)
{
	struct exchange x;
	struct stub_call s;

	scenario = "ebpf_disable_process";
	x = open_pair(7050);
	memset(&s, 0, sizeof(s));
	s.which = 2;
	s.arg = (uint32_t)x.cli.pid;
	s.flag = false;
	call_stub(s);
	size_t before = count_any(x.cli.pid);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	struct reply r = w_connect(&x.cli, AF_INET, SOCK_STREAM, B_IP, 7050);
	settle();
	CHECK(count_any(x.cli.pid) == before, "events from a disabled process");
	s.flag = true;
	call_stub(s);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	wait_data(x.cli.pid, x.cfd, DirEgress, sizeof(get_req) - 1); /* only the write after re-enabling */
	w_close(&x.cli, (int)r.ret);
	close_pair(&x);
	printf("ok   %s\n", scenario);

	scenario = "ebpf_update_conn_addr drop=true";
	x = open_pair(7051);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	wait_data(x.cli.pid, x.cfd, DirEgress, sizeof(get_req) - 1);
	memset(&s, 0, sizeof(s));
	s.which = 1;
	s.id = conn_id_of(x.cli.pid, x.cfd);
	s.addr.in4.family = AF_INET;
	s.addr.in4.port = htons(9999);
	inet_pton(AF_INET, "10.201.0.99", &s.addr.in4.addr);
	s.flag = true;
	call_stub(s);
	before = count(EV_DATA, x.cli.pid, x.cfd);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	close_pair(&x);
	CHECK(count(EV_DATA, x.cli.pid, x.cfd) == before, "data after update_conn_addr(drop=true)");
	CHECK(!find_ctrl(x.cli.pid, x.cfd, EventClose), "EventClose of a dropped connection");
	check_final(x.cli.pid, x.cfd, 2 * (sizeof(get_req) - 1), 0, 2, 0, IsClient);
	check_addr4(&final_stats(x.cli.pid, x.cfd)->stats.addr, "10.201.0.99", 9999, "address set by update_conn_addr");
	printf("ok   %s\n", scenario);

	scenario = "ebpf_update_conn_addr on an untracked connection";
	memset(&s, 0, sizeof(s));
	s.which = 1;
	s.id.tgid = (uint32_t)getppid();
	s.id.fd = 4242;
	s.id.start = 123456789;
	s.addr.in6.family = AF_INET6;
	s.addr.in6.port = htons(443);
	inet_pton(AF_INET6, "fd00:201::77", s.addr.in6.addr);
	s.flag = false;
	call_stub(s);
	uint64_t deadline = after_ms(5000);
	struct event *c;
	while (!(c = find_ctrl((pid_t)s.id.tgid, 4242, EventConnect))) {
		CHECK(now_ms() < deadline, "no EventConnect after update_conn_addr on an untracked id");
		pump();
		usleep(10000);
	}
	CHECK(c->ctrl.conn_id.start == 123456789 && c->ctrl.connect.role == IsUnknown, "EventConnect from update_conn_addr");
	check_addr6(&c->ctrl.connect.addr, "fd00:201::77", 443, "update_conn_addr EventConnect");
	CHECK(map_has((pid_t)s.id.tgid, 4242), "update_conn_addr did not create the map entry");
	printf("ok   %s\n", scenario);

	scenario = "ebpf_delete_map_value";
	struct connect_id_t ids[70];
	memset(ids, 0, sizeof(ids));
	for (int i = 0; i < 70; i++) { /* more than one stub batch; the real entry is last */
		ids[i].tgid = 1;
		ids[i].fd = 100000 + i;
	}
	ids[69] = c->ctrl.conn_id;
	s.which = 0;
	s.ids = ids;
	s.n = 70;
	call_stub(s);
	CHECK(!map_has((pid_t)ids[69].tgid, 4242), "ebpf_delete_map_value left the entry in the map");
	printf("ok   %s\n", scenario);

	scenario = "ebpf_update_conn_role";
	x = open_pair(7052);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	wait_data(x.cli.pid, x.cfd, DirEgress, sizeof(get_req) - 1);
	CHECK(map_has(x.cli.pid, x.cfd), "ebpf_get_next_key does not list a live connection");
	memset(&s, 0, sizeof(s));
	s.which = 3;
	s.id = conn_id_of(x.cli.pid, x.cfd);
	s.arg = IsServer;
	call_stub(s);
	pair_send(&x, get_req, sizeof(get_req) - 1);
	wait_data(x.cli.pid, x.cfd, DirEgress, 2 * (sizeof(get_req) - 1));
	struct event *last = NULL;
	for (size_t i = 0; i < nevents; i++)
		if (events[i].kind == EV_DATA && events[i].attr.conn_id.tgid == (uint32_t)x.cli.pid)
			last = &events[i];
	CHECK(last && last->attr.role == IsServer && last->attr.type == TypeResponse,
	      "data after update_conn_role(IsServer): role %d type %d", last ? (int)last->attr.role : -1,
	      last ? (int)last->attr.type : -1);
	close_pair(&x);
	printf("ok   %s\n", scenario);
}

/* ---- real clients and servers ----------------------------------------------------------------- */

static pid_t spawn_exec(const char *ns, const char *out, char *const argv[])
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork");
	if (!pid) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		enter_netns(ns);
		execvp(argv[0], argv);
		_exit(127);
	}
	track_child(pid);
	return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
	uint64_t deadline = after_ms((uint64_t)timeout_ms);
	int st;

	for (;;) {
		pump();
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			for (int i = 0; i < nchildren; i++)
				if (children[i] == pid)
					children[i] = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		CHECK(now_ms() < deadline, "process %d did not exit in time", pid);
		usleep(10000);
	}
}

static void wait_port(const char *ns, const char *what, int port, int udp)
{
	char cmd[256];
	uint64_t deadline = after_ms(5000);

	snprintf(cmd, sizeof(cmd), "ip netns exec %s ss -H -ln%s 'sport = :%d' | grep -q .", ns, udp ? "u" : "t", port);
	while (system(cmd)) {
		CHECK(now_ms() < deadline, "%s did not listen on port %d within 5 s", what, port);
		pump();
		usleep(20000);
	}
}

static struct event *find_payload(pid_t tgid, int not_tgid, int dir, const char *prefix, size_t plen)
{
	for (size_t i = 0; i < nevents; i++) {
		struct event *e = &events[i];
		if (e->kind != EV_DATA || (int)e->attr.direction != dir)
			continue;
		if (tgid > 0 && e->attr.conn_id.tgid != (uint32_t)tgid)
			continue;
		if (not_tgid > 0 && e->attr.conn_id.tgid == (uint32_t)not_tgid)
			continue;
		if (e->attr.msg_buf_size >= plen && !memcmp(e->msg, prefix, plen))
			return e;
	}
	return NULL;
}

static void scenario_curl_nginx(void)
{
	char conf[256], out[256], root[128];
	FILE *f;

	scenario = "curl -> nginx";
	snprintf(root, sizeof(root), "%s/nginx", tmpdir);
	mkdir(root, 0755);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", root);
	f = fopen(conf, "w");
	CHECK(f, "cannot write %s", conf);
	fprintf(f,
		"daemon off; master_process off; worker_processes 1; pid %s/nginx.pid; error_log %s/error.log;\n"
		"events { worker_connections 64; }\n"
		"http { access_log off; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
		"  uwsgi_temp_path %s; scgi_temp_path %s;\n"
		"  server { listen " B_IP ":8080; listen [" B_IP6 "]:8080;\n"
		"    location /hello { default_type text/plain; return 200 \"hello from nginx\\n\"; } } }\n",
		root, root, root, root, root, root, root);
	fclose(f);
	snprintf(out, sizeof(out), "%s/nginx.out", root);
	char *nginx_argv[] = { "nginx", "-c", conf, "-p", root, NULL };
	pid_t ng = spawn_exec(ns_b, out, nginx_argv);
	wait_port(ns_b, "nginx", 8080, 0);

	snprintf(out, sizeof(out), "%s/curl.out", root);
	char *curl_argv[] = { "curl", "-sS", "--max-time", "5", "http://" B_IP ":8080/hello", NULL };
	pid_t cu = spawn_exec(ns_a, out, curl_argv);
	CHECK(wait_exit(cu, 10000) == 0, "curl failed (see %s)", out);
	static const char get[] = "GET /hello HTTP/1.1\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\n";
	uint64_t deadline = after_ms(5000);
	struct event *creq, *cresp, *sreq, *sresp;
	for (;;) {
		pump();
		creq = find_payload(cu, 0, DirEgress, get, sizeof(get) - 1);
		cresp = find_payload(cu, 0, DirIngress, ok, sizeof(ok) - 1);
		sreq = find_payload(ng, 0, DirIngress, get, sizeof(get) - 1);
		sresp = find_payload(ng, 0, DirEgress, ok, sizeof(ok) - 1);
		if (creq && cresp && sreq && sresp)
			break;
		CHECK(now_ms() < deadline, "HTTP events missing: curl req %d resp %d, nginx req %d resp %d", !!creq,
		      !!cresp, !!sreq, !!sresp);
		usleep(10000);
	}
	CHECK(creq->attr.protocol == ProtoHTTP && creq->attr.role == IsClient && creq->attr.type == TypeRequest,
	      "curl request event");
	check_addr4(&creq->attr.addr, B_IP, 8080, "curl request addr");
	CHECK(cresp->attr.role == IsClient && cresp->attr.type == TypeResponse, "curl response event");
	if (bodies_cut) {
		/* The 17-byte body is counted, not copied: the event carries the headers exactly. */
		size_t hb = cresp->attr.msg_buf_size;
		CHECK(hb >= 4 && !memcmp(cresp->msg + hb - 4, "\r\n\r\n", 4) &&
			      memmem(cresp->msg, hb, "Content-Length: 17\r\n", 20) &&
			      data_org_bytes(cu, cresp->attr.conn_id.fd, DirIngress) == hb + 17,
		      "curl's response event: %u of %u bytes copied, want the headers and the body's size",
		      cresp->attr.msg_buf_size, cresp->attr.org_msg_size);
	} else {
		CHECK(memmem(cresp->msg, cresp->attr.msg_buf_size, "hello from nginx", 16) ||
			      data_org_bytes(cu, cresp->attr.conn_id.fd, DirIngress) > cresp->attr.org_msg_size,
		      "the response body is missing from curl's stream");
	}
	CHECK(sreq->attr.role == IsServer && sreq->attr.type == TypeRequest && sreq->attr.protocol == ProtoHTTP,
	      "nginx request event");
	CHECK(sreq->attr.addr.sa.family == AF_INET, "nginx request addr family %u", sreq->attr.addr.sa.family);
	CHECK(sresp->attr.role == IsServer && sresp->attr.type == TypeResponse, "nginx response event");
	kill(ng, SIGTERM);
	wait_exit(ng, 5000);
	printf("ok   %s\n", scenario);
}

static void scenario_dig_dnsmasq(void)
{
	char out[256], pidf[256];

	scenario = "dig -> dnsmasq";
	snprintf(out, sizeof(out), "%s/dnsmasq.out", tmpdir);
	snprintf(pidf, sizeof(pidf), "--pid-file=%s/dnsmasq.pid", tmpdir);
	char *dm_argv[] = { "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
			    "--listen-address=" B_IP, "--bind-interfaces", "--port=53", "--user=root",
			    "--address=/test.example/10.9.9.9", pidf, NULL };
	pid_t dm = spawn_exec(ns_b, out, dm_argv);
	wait_port(ns_b, "dnsmasq", 53, 1);
	snprintf(out, sizeof(out), "%s/dig.out", tmpdir);
	char *dig_argv[] = { "dig", "+short", "+tries=1", "+time=3", "@" B_IP, "test.example", "A", NULL };
	pid_t dg = spawn_exec(ns_a, out, dig_argv);
	CHECK(wait_exit(dg, 10000) == 0, "dig failed (see %s)", out);
	static const char qname[] = "\x04test\x07" "example";
	uint64_t deadline = after_ms(5000);
	struct event *dq = NULL, *dr = NULL, *sq = NULL;
	for (;;) {
		pump();
		for (size_t i = 0; i < nevents; i++) {
			struct event *e = &events[i];
			if (e->kind != EV_DATA || e->attr.protocol != ProtoDNS ||
			    !memmem(e->msg, e->attr.msg_buf_size, qname, sizeof(qname) - 1))
				continue;
			if (e->attr.conn_id.tgid == (uint32_t)dg && e->attr.direction == DirEgress)
				dq = e;
			if (e->attr.conn_id.tgid == (uint32_t)dg && e->attr.direction == DirIngress)
				dr = e;
			if (e->attr.conn_id.tgid == (uint32_t)dm && e->attr.direction == DirIngress)
				sq = e;
		}
		if (dq && dr && sq)
			break;
		CHECK(now_ms() < deadline, "DNS events missing: dig query %d answer %d, dnsmasq query %d", !!dq, !!dr,
		      !!sq);
		usleep(10000);
	}
	CHECK(dq->attr.role == IsClient && dq->attr.type == TypeRequest, "dig query role %d type %d", dq->attr.role,
	      dq->attr.type);
	CHECK(dr->attr.type == TypeResponse, "dig answer type %d", dr->attr.type);
	CHECK(sq->attr.role == IsServer, "dnsmasq query role %d", sq->attr.role);
	check_addr4(&dq->attr.addr, B_IP, 53, "dig query addr");
	CHECK(sq->attr.addr.sa.family == AF_INET && sq->attr.addr.in4.addr == inet_addr(A_IP),
	      "dnsmasq sees the query from " A_IP);
	kill(dm, SIGTERM);
	wait_exit(dm, 5000);
	printf("ok   %s\n", scenario);
}

/* ---- main ------------------------------------------------------------------------------------- */

static void bind_library(const char *path, void **handle)
{
	void **slots = (void **)&lib;

	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(*handle, "dlopen %s: %s", path, dlerror());
	for (int i = 0; i < LIBEBPF_SYMBOL_COUNT; i++) {
		slots[i] = dlsym(*handle, symbols[i]);
		CHECK(slots[i], "symbol %s missing from %s", symbols[i], path);
	}
}

static long stub_offset(void *sym)
{
	Dl_info info;

	CHECK(dladdr(sym, &info) && info.dli_saddr, "dladdr failed");
	return (long)((char *)info.dli_saddr - (char *)info.dli_fbase);
}

static int init_library(const char *so)
{
	char path[4096];
	const char *btf = getenv("DROPIN_BTF");

	CHECK(realpath(so, path), "realpath %s: %s", so, strerror(errno));
	lib.setup_print(on_print);
	lib.setup_ctrl(on_ctrl, &events);
	lib.setup_data(on_data, &events);
	lib.setup_stats(on_stats, &events);
	lib.setup_lost(on_lost, &events);
	if (btf && !*btf)
		btf = NULL;
	return lib.init((char *)btf, btf ? (int32_t)strlen(btf) : 0, path, (int32_t)strlen(path),
			stub_offset((void *)lib.cleanup_dog),
			stub_offset((void *)lib.update_conn_addr), stub_offset((void *)lib.disable_process),
			stub_offset((void *)lib.update_conn_role));
}

static void configure_like_ilogtail(void)
{
	config(PROTOCOL_FILTER, 0, -1);
	config(TGID_FILTER, 0, -1);
	config(SELF_FILTER, 0, getpid());
	config(DATA_SAMPLING, 0, 100);
	config(PERF_BUFFER_PAGE, DATA_HAND, 512);
}

static volatile sig_atomic_t consume_stop;

static void on_term(int sig)
{
	(void)sig;
	consume_stop = 1;
}

static void discard_data(void *c, struct conn_data_event_t *e) { (void)c; (void)e; }
static void discard_ctrl(void *c, struct conn_ctrl_event_t *e) { (void)c; (void)e; }
static void discard_stats(void *c, struct conn_stats_event_t *e) { (void)c; (void)e; }

/* The benchmark's agent: iLogtail's loop (poll 100, sleep 10 ms when fewer), events discarded. */
static int consume(const char *so)
{
	char path[4096];
	long total = 0;

	CHECK(realpath(so, path), "realpath");
	lib.setup_print(on_print);
	lib.setup_ctrl(discard_ctrl, NULL);
	lib.setup_data(discard_data, NULL);
	lib.setup_stats(discard_stats, NULL);
	lib.setup_lost(on_lost, NULL);
	CHECK(lib.init(NULL, 0, path, (int32_t)strlen(path), stub_offset((void *)lib.cleanup_dog),
		       stub_offset((void *)lib.update_conn_addr), stub_offset((void *)lib.disable_process),
		       stub_offset((void *)lib.update_conn_role)) == 0,
	      "ebpf_init failed");
	configure_like_ilogtail();
	CHECK(lib.start() == 0, "ebpf_start failed");
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	printf("ready\n");
	fflush(stdout);
	while (!consume_stop) {
		int n = lib.poll_events(100, &stop_flag);
		CHECK(n >= 0, "ebpf_poll_events returned %d", n);
		total += n;
		if (n < 100)
			usleep(10000);
	}
	lib.stop();
	fprintf(stderr, "consume: %ld callbacks, %llu lost\n", total, (unsigned long long)lost_total);
	return 0;
}

int main(int argc, char **argv)
{
	void *handle;
	const char *so = argc > 1 ? argv[1] : "bin/libebpf.so";
	uint64_t t0 = now_ms();

	setvbuf(stdout, NULL, _IOLBF, 0);
	verbose = getenv("DROPIN_VERBOSE") != NULL;
	if (getenv("DROPIN_WAIT_SCALE") && atoi(getenv("DROPIN_WAIT_SCALE")) > 1)
		wait_scale = (uint64_t)atoi(getenv("DROPIN_WAIT_SCALE"));
	bind_library(so, &handle);
	if (argc > 2 && !strcmp(argv[2], "--consume"))
		return consume(so);
	CHECK(geteuid() == 0, "must run as root: it creates network namespaces and loads BPF programs");

	snprintf(ns_a, sizeof(ns_a), "nobpf_a%d", getpid());
	snprintf(ns_b, sizeof(ns_b), "nobpf_b%d", getpid());
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dropin.%d", getpid());
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout (| head) must not skip the cleanup */
	CHECK(!mkdir(tmpdir, 0755), "mkdir %s", tmpdir);
	run("ip netns add %s && ip netns add %s", ns_a, ns_b);
	run("ip link add nobpf%d type veth peer name nobpfp%d", getpid(), getpid());
	run("ip link set nobpf%d netns %s && ip link set nobpfp%d netns %s", getpid(), ns_a, getpid(), ns_b);
	run("ip -n %s addr add " A_IP "/24 dev nobpf%d && ip -n %s addr add " A_IP6 "/64 dev nobpf%d nodad", ns_a,
	    getpid(), ns_a, getpid());
	run("ip -n %s addr add " B_IP "/24 dev nobpfp%d && ip -n %s addr add " B_IP6 "/64 dev nobpfp%d nodad", ns_b,
	    getpid(), ns_b, getpid());
	run("ip -n %s link set lo up && ip -n %s link set nobpf%d up", ns_a, ns_a, getpid());
	run("ip -n %s link set lo up && ip -n %s link set nobpfp%d up", ns_b, ns_b, getpid());

	prestart_open();

	scenario = "errors before a successful ebpf_init";
	{
		static char bad_btf[] = "/nonexistent/vmlinux.btf";
		char path[4096];
		int prints = print_calls;

		lib.setup_print(on_print);
		verbose_errors = false;
		CHECK(lib.start() != 0, "ebpf_start before ebpf_init succeeded");
		CHECK(realpath(so, path), "realpath");
		CHECK(lib.init(bad_btf, sizeof(bad_btf) - 1, path, (int32_t)strlen(path), 1, 2, 3, 4) != 0,
		      "ebpf_init with a missing BTF file succeeded");
		CHECK(print_calls > prints && strstr(last_print, bad_btf), "no message naming the missing BTF file");
		CHECK(lib.init(NULL, 0, NULL, 0, 1, 2, 3, 4) != 0, "ebpf_init without the .so path succeeded");
		CHECK(lib.get_fd() < 0, "a failed ebpf_init left a map behind");
		verbose_errors = true;
	}
	printf("ok   %s\n", scenario);

	scenario = "ebpf_init";
	uint64_t t_init = now_ms();
	int err = init_library(so);
	CHECK(err == 0, "ebpf_init returned %d: BPF cannot run here (see the libebpf messages above)", err);
	printf("ok   ebpf_init (%llu ms)\n", (unsigned long long)(now_ms() - t_init));
	CHECK(print_calls > 0, "the library never used the print callback");
	configure_like_ilogtail();
	scenario = "ebpf_start";
	CHECK(lib.start() == 0, "ebpf_start failed");
	running = true;
	printf("ok   ebpf_init + config + ebpf_start (%llu ms)\n", (unsigned long long)(now_ms() - t0));

	scenario_prestart();
	scenario_tcp(AF_INET, B_IP, A_IP, 7001, "TCP over IPv4");
	scenario_tcp(AF_INET6, B_IP6, A_IP6, 7002, "TCP over IPv6");
	scenario_tcp(AF_INET6, "::ffff:" B_IP, "::ffff:" A_IP, 7003, "TCP over IPv6 with v4-mapped addresses");
	scenario_stats_interval();
	scenario_iovec();
	scenario_udp_dns();
	scenario_unix();
	scenario_http_bodies();
	scenario_filters();
	scenario_stubs();

	scenario = "ebpf_start again without ebpf_stop";
	CHECK(lib.start() == 0, "second ebpf_start failed");
	scenario_tcp(AF_INET, B_IP, A_IP, 7004, "TCP over IPv4 after a restart (no duplicate events)");
	scenario_curl_nginx();
	scenario_dig_dnsmasq();
	CHECK(lost_total == 0, "%llu events were lost", (unsigned long long)lost_total);

	/* A one-page data buffer cannot hold a 16 KiB event: every data event of a big write is lost,
	 * and the loss must reach the lost callback, attributed to DATA_HAND. */
	scenario = "lost data events reach the lost callback";
	config(PERF_BUFFER_PAGE, DATA_HAND, 1);
	CHECK(lib.start() == 0, "ebpf_start with a one-page data buffer failed");
	expect_loss = true;
	{
		struct exchange x = open_pair(7060);
		/* A chunked body: exported whole, so it overflows one page. */
		int h = snprintf((char *)big, 256, "POST /upload HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n");
		size_t len = (size_t)h + 60000;
		fill_pattern(big + h, 60000, 11);
		pair_send(&x, big, len);
		/* The kernel reports a loss with the next record that fits. */
		pair_send(&x, get_req, sizeof(get_req) - 1);
		uint64_t deadline = after_ms(5000);
		while (!lost_by_type[DATA_HAND]) {
			CHECK(now_ms() < deadline, "no lost notice for data events that cannot fit the buffer");
			pump();
			usleep(10000);
		}
		close_pair(&x);
		CHECK(lost_by_type[CTRL_HAND] == 0 && lost_by_type[STAT_HAND] == 0, "losses on ctrl or stats buffers");
	}
	expect_loss = false;
	printf("ok   %s (%llu lost)\n", scenario, (unsigned long long)lost_by_type[DATA_HAND]);

	scenario = "ebpf_stop";
	CHECK(lib.stop() == 0 && lib.stop() == 0, "ebpf_stop is not idempotent");
	running = false;
	CHECK(lib.poll_events(100, &stop_flag) < 0, "poll after stop should report an error");
	stop_flag = 1;
	CHECK(lib.poll_events(100, &stop_flag) == EBPF_POLL_STOPPED, "poll with stop_flag set");
	CHECK(count_any(getpid()) == 0, "events from the agent's own process");
	printf("PASS dropin: %zu events checked in %.1f s\n", nevents, (double)(now_ms() - t0) / 1000);
	return 0;
}
