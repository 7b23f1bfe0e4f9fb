// SPDX-License-Identifier: Apache-2.0
/*
 * sysbench: the per-syscall price the library adds, measured from user space (run it pinned, e.g.
 * taskset -c 1, once with the library detached and once attached):
 *   - read of 64 bytes from /dev/zero: a non-socket read, the cost every file or pipe I/O pays;
 *   - getppid: a syscall the library does not trace (the syscall-tracing slow path only);
 *   - write of a 64-byte HTTP request on a loopback TCP connection: a traced socket syscall with one
 *     data event (the peer drains the bytes every 16 writes; that read is part of the price);
 *   - write of 16 KiB of an HTTP body (a response announced 1 GiB with Content-Length) and the
 *     peer's read of it: two data events that carry the body's size, not its bytes, where the
 *     library bounds bodies (bpf/README.md).
 * Times are the thread's CPU time (kernel work of the syscall and its BPF programs included), so a
 * busy machine that preempts the loop inflates them less than wall time would.
 * Usage: bpf-sysbench [iterations]   (default 2000000; the socket case runs a quarter of them)
 *        bpf-sysbench --loop getppid|devnull N: only N getppid() calls, or N 64-byte writes to
 *        /dev/null (a followed syscall on an fd that is not a socket), for scripts/bench-bpf.sh,
 *        which reads the BPF programs' own run time around it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* A connected loopback TCP pair: c (client) and *server. */
static int tcp_pair(int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len) || connect(c, (struct sockaddr *)&a, sizeof(a)))
		die("tcp pair");
	*server = accept(l, NULL, NULL);
	if (*server < 0)
		die("accept");
	close(l);
	return c;
}

static int loop(const char *what, long n)
{
	char b[64] = {0};
	int fd = open("/dev/null", O_WRONLY);
	double t;

	if (fd < 0 || n <= 0)
		die("/dev/null");
	t = now_ns();
	if (!strcmp(what, "getppid")) {
		for (long i = 0; i < n; i++)
			getppid();
	} else if (!strcmp(what, "devnull")) {
		for (long i = 0; i < n; i++)
			if (write(fd, b, sizeof(b)) != sizeof(b))
				die("write");
	} else {
		fprintf(stderr, "usage: bpf-sysbench --loop getppid|devnull N\n");
		return 2;
	}
	printf("%s: %.1f ns/syscall\n", what, (now_ns() - t) / n);
	return 0;
}

int main(int argc, char **argv)
{
	static const char req[64] = "GET /sysbench HTTP/1.1\r\nHost: x\r\n\r\n";
	char b[64 * 16];
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	int fd = open("/dev/zero", O_RDONLY), s, c;
	double t;

	if (argc > 3 && !strcmp(argv[1], "--loop"))
		return loop(argv[2], atol(argv[3]));
	if (fd < 0 || n <= 0)
		die("/dev/zero");
	t = now_ns();
	for (long i = 0; i < n; i++)
		if (read(fd, b, 64) != 64)
			die("read");
	printf("read: %.1f ns/syscall\n", (now_ns() - t) / n);

	t = now_ns();
	for (long i = 0; i < n; i++)
		getppid();
	printf("getppid: %.1f ns/syscall\n", (now_ns() - t) / n);

	c = tcp_pair(&s);
	n /= 4;
	t = now_ns();
	for (long i = 1; i <= n; i++) {
		if (write(c, req, sizeof(req)) != sizeof(req))
			die("write");
		if (i % 16 == 0 && recv(s, b, sizeof(b), MSG_WAITALL) != sizeof(b))
			die("recv");
	}
	printf("socket write (1 data event, 1/16 of a 1 KiB read): %.1f ns/write\n", (now_ns() - t) / n);

	{
		static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
		static char body[16384], in[16384];

		if (write(s, head, sizeof(head) - 1) != sizeof(head) - 1 ||
		    recv(c, in, sizeof(head) - 1, MSG_WAITALL) != sizeof(head) - 1)
			die("head");
		memset(body, 'b', sizeof(body));
		n /= 4;
		t = now_ns();
		for (long i = 0; i < n; i++)
			if (write(s, body, sizeof(body)) != sizeof(body) ||
			    recv(c, in, sizeof(in), MSG_WAITALL) != sizeof(in))
				die("body");
		printf("16 KiB HTTP body write + read (2 data events): %.1f ns/pair\n", (now_ns() - t) / n);
	}
	return 0;
}
