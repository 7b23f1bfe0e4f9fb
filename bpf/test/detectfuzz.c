// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the BPF side's protocol detection (bpf/detect.h), built with
 * -fsanitize=fuzzer,address so that the fuzzer sees detect()'s own branches and comparisons (Go's
 * fuzzer, cgo/detect's FuzzDetect, sees only the Go side). Each input is 7 bytes of context (flags:
 * lh_pending, a 2-byte length read, datagram, first; the 4-byte length header; the 2-byte length)
 * and the buffer. The buffer and the 16-byte head are heap blocks of their exact size, so AddressSanitizer
 * stops any read past either; the verdict must be the same twice, and the same whatever the head
 * holds after the buffer's bytes (zero in the kernel).
 *
 * Usage: bpf-detectfuzz [libFuzzer options] [corpus dirs]
 */
#include <stdio.h>
#include <stdlib.h>

#include "detect.h"

struct verdict {
	u32 proto, type;
	bool tls;
};

static struct verdict classify(const u8 *buf, u64 len, const u8 *ctx, int pad)
{
	u8 *head = calloc(1, 16);
	u16 tail = 0;
	struct verdict v;

	if (!head)
		abort();
	detect_head((u64)(uintptr_t)buf, len, head, &tail);
	for (u64 i = len; pad >= 0 && i < 16; i++)
		head[i] = (u8)pad;
	v.tls = tls_hello(head, len);
	v.proto = detect(head, len, tail, le32(ctx + 1), ctx[0] & 1, (ctx[0] & 2) ? ((u16)ctx[5] << 8 | ctx[6]) : 0,
			 ctx[0] & 4, ctx[0] & 8, &v.type);
	free(head);
	return v;
}

static bool same(struct verdict a, struct verdict b)
{
	return a.proto == b.proto && a.type == b.type && a.tls == b.tls;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int pads[] = {0xff, 0x0a, 0};
	struct verdict v;
	u8 *buf;
	u64 len;

	if (size < 9 || size - 8 > 65536)
		return 0;
	len = size - 8;
	buf = malloc(len);
	if (!buf)
		abort();
	memcpy(buf, data + 8, len);
	v = classify(buf, len, data, -1);
	if (!same(v, classify(buf, len, data, -1))) {
		fprintf(stderr, "detect: two verdicts for one input\n");
		abort();
	}
	pads[2] = data[7];
	for (unsigned i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
		struct verdict p = classify(buf, len, data, pads[i]);

		if (!same(v, p)) {
			fprintf(stderr, "detect: %u/%u tls %d with the head zero after %llu bytes, %u/%u tls %d with it 0x%02x\n",
				v.proto, v.type, v.tls, (unsigned long long)len, p.proto, p.type, p.tls, pads[i]);
			abort();
		}
	}
	free(buf);
	return 0;
}
