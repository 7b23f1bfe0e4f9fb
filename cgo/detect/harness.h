/* The BPF side's protocol detection (bpf/detect.h) run in user space on guarded memory: the
 * syscall's buffer ends where an unmapped page begins, and so does the 16-byte head detect() is
 * given, so a read past either faults instead of passing unnoticed. detect.h and libebpf.h here
 * are symbolic links to the files the BPF build uses: go build hashes a package's own files only,
 * so a header included from elsewhere could change without rebuilding the harness. */
#ifndef NETOBSERVER_DETECT_HARNESS_H
#define NETOBSERVER_DETECT_HARNESS_H

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "detect.h"

/* The largest buffer the harness takes: a data syscall's first segment as data_main reads it. */
#define HARNESS_MAX_BUF 65536

struct harness_in {
	u32 length_header;
	u8 lh_pending;
	u16 len2;
	u8 dgram;
	u8 first;
	/* -1: head is zero after the buffer's bytes, as in the kernel; else every byte of head after
	 * min(len, 16) is this value (detect must not look at them). */
	int pad;
};

struct harness_out {
	u32 proto;
	u32 type;
	u8 tls;
};

static u8 *harness_buf_end, *harness_head;

/* size bytes of readable memory followed by an unmapped page; returns the end of the readable part. */
static u8 *harness_guarded(size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t n = (size + page - 1) / page * page;
	u8 *m = mmap(NULL, n + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED || mprotect(m + n, page, PROT_NONE))
		abort();
	return m + n;
}

/* Not thread-safe: the Go side serialises calls. */
static void harness_classify(const u8 *buf, u64 len, const struct harness_in *in, struct harness_out *out)
{
	u8 *p, *head;
	u16 tail = 0;
	u64 i;

	if (!harness_buf_end) {
		harness_buf_end = harness_guarded(HARNESS_MAX_BUF);
		harness_head = harness_guarded(16) - 16;
	}
	p = harness_buf_end - len;
	memcpy(p, buf, len);
	head = harness_head;
	memset(head, 0, 16);
	detect_head((u64)(uintptr_t)p, len, head, &tail);
	if (in->pad >= 0)
		for (i = len; i < 16; i++)
			head[i] = (u8)in->pad;
	out->tls = tls_hello(head, len);
	out->type = TypeUnknown;
	out->proto = detect(head, len, tail, in->length_header, in->lh_pending, in->len2, in->dgram, in->first,
			    &out->type);
}

static int harness_dns_header(const u8 *h12)
{
	return dns_header(h12);
}

#endif
