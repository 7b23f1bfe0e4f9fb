/* Protocol detection from a connection's first buffers: detect(), tls_hello() and their helpers.
 *
 * Compiled into the BPF programs (netobserver.bpf.c) and, unchanged, into ordinary user-space C
 * (bpf/test/detect.c, cgo/detect): the tests and the fuzz target run the very code the kernel runs.
 * The only difference is the shim below: a BPF probe read of user memory becomes a memcpy of the
 * same length, and bound_head's verifier-facing mask the same arithmetic in plain C. */
#ifndef NETOBSERVER_DETECT_H
#define NETOBSERVER_DETECT_H

#ifdef __bpf__
#define detect_read(dst, n, src) bpf_probe_read_user(dst, n, (const void *)(src))

/* Opaque to the compiler, like bound_payload: [1, 16] for an input in that range. */
static __always_inline u64 bound_head(u64 n)
{
	asm volatile("%0 += -1\n\t%0 &= 0xf\n\t%0 += 1" : "+r"(n));
	return n;
}
#else
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "libebpf.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define detect_read(dst, n, src) memcpy(dst, (const void *)(uintptr_t)(src), n)

static __always_inline u64 bound_head(u64 n)
{
	return ((n - 1) & 0xf) + 1;
}
#endif

/* What detect() and tls_hello() are given of a buffer of len >= 1 bytes at p: its first min(len, 16)
 * bytes in head[16] (zero after them) and its last two bytes in *tail (0 when len < 2). A macro, not
 * a function: as a function the BPF build kept p and len in registers across the reads instead of
 * loading them again, and data_main grew or shrank by 10 to 16 instructions. */
#define detect_head(p, len, head, tail)                                                          \
	do {                                                                                     \
		u64 detect_n = bound_head((len) < 16 ? (len) : 16);                              \
                                                                                                 \
		detect_read(head, detect_n, (p));                                                \
		if ((len) >= 2)                                                                  \
			detect_read(tail, 2, (p) + (len) - 2);                                   \
	} while (0)

static __always_inline u32 be32(const u8 *b)
{
	return ((u32)b[0] << 24) | ((u32)b[1] << 16) | ((u32)b[2] << 8) | b[3];
}

static __always_inline u32 le32(const u8 *b)
{
	return ((u32)b[3] << 24) | ((u32)b[2] << 16) | ((u32)b[1] << 8) | b[0];
}

static __always_inline bool mysql_command(u8 c)
{
	return c == 0x03 || c == 0x0b || c == 0x16 || c == 0x17 || c == 0x19;
}

/* A sane DNS header at h (12 bytes): a standard query or its answer, the reserved Z bit clear,
 * 1..8 questions. Z rules out NTP: ntpdate's request (poll below 8, root delay and dispersion
 * 1.0 s) reads as a query with one question and one authority record, but an NTP precision (byte
 * 3, a negative exponent: 0xc0 to 0xff) always has the Z bit (0x40) set. */
static __always_inline bool dns_header(const u8 *h)
{
	u16 qd = ((u16)h[4] << 8) | h[5];
	u16 an = ((u16)h[6] << 8) | h[7];
	u16 ns = ((u16)h[8] << 8) | h[9];
	u16 ar = ((u16)h[10] << 8) | h[11];

	return ((h[2] >> 3) & 0xf) == 0 && !(h[3] & 0x40) && qd >= 1 && qd <= 8 && an <= 64 && ns <= 64 && ar <= 64;
}

/* The first 8 bytes of an HTTP/1 request or status line. */
static __always_inline bool http_start(const u8 *b)
{
	return (b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ') ||
	       (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
	       (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T') ||
	       (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D') ||
	       (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C') ||
	       (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E') ||
	       (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I') ||
	       (b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' && b[5] == '1' && b[6] == '.');
}

/* A Kafka request header at b (after the 4-byte size; rest bytes from b on): API key 0..67, version
 * 0..20, a non-negative correlation ID, and a client ID that is null or begins with a printable
 * character within the message. The client ID rules out ZooKeeper, whose requests (the
 * ConnectRequest's protocol version 0, later a small xid) read as API key 0 and a version, then
 * have 0 bytes where the client ID's length is: our Kafka parser took a ConnectRequest for a
 * one-way Produce v0 and a GetData for a Produce v1 call. Its price: a Kafka client configured
 * with an empty client ID goes undetected (kcat's librdkafka sends "rdkafka", franz-go "kgo"). */
static __always_inline bool kafka_request(const u8 *b, u64 rest)
{
	u16 client = ((u16)b[8] << 8) | b[9];

	return b[0] == 0 && b[1] <= 67 && b[2] == 0 && b[3] <= 20 && !(b[4] & 0x80) &&
	       (client == 0xffff || (client >= 1 && 10 + (u64)client <= rest && b[10] >= 0x20 && b[10] < 0x7f));
}

/* Four characters as le32 reads them. */
#define W4(a, b, c, d) ((u32)(a) | ((u32)(b) << 8) | ((u32)(c) << 16) | ((u32)(d) << 24))
#define W3(a, b, c) W4(a, b, c, 0)

/* NATS: the greetings (CONNECT from clients, INFO from servers) or, on a connection older than
 * the observer, a publish, subscription or delivery line; *type is set. Upper case, so never
 * memcached's; Redis's RESP and HTTP's methods are tried before. */
static __always_inline bool nats_start(const u8 *b, u64 len, u16 tail, u32 *type)
{
	bool crlf = tail == ('\r' | ('\n' << 8));
	u32 w0, w1;

	if (len < 6)
		return false;
	w0 = le32(b);
	w1 = le32(b + 4);
	if ((len >= 9 && w0 == W4('C', 'O', 'N', 'N') && w1 == W4('E', 'C', 'T', ' ') && b[8] == '{') ||
	    (crlf && (w0 == W4('P', 'U', 'B', ' ') || w0 == W4('S', 'U', 'B', ' ') ||
		      (w0 == W4('H', 'P', 'U', 'B') && b[4] == ' ')))) {
		*type = TypeRequest;
		return true;
	}
	if ((w0 == W4('I', 'N', 'F', 'O') && b[4] == ' ' && b[5] == '{') ||
	    (crlf && (w0 == W4('M', 'S', 'G', ' ') || (w0 == W4('H', 'M', 'S', 'G') && b[4] == ' ')))) {
		*type = TypeResponse;
		return true;
	}
	return false;
}

/* memcached: a binary header (magic 0x80 request, 0x81 response; a known opcode; raw data type;
 * key and extras inside the body; the body inside the buffer), or a text or meta command line
 * (lower case: HTTP's methods are upper case, Redis's commands come as RESP arrays) or answer
 * line. */
static __always_inline bool memcached_start(const u8 *b, u64 len, u16 tail, u32 *type)
{
	u32 w0, w1, w03;

	if (len >= 24 && (b[0] == 0x80 || b[0] == 0x81) && b[1] <= 0x24 && b[5] == 0) {
		u32 body = be32(b + 8);
		u32 keyext = (((u32)b[2] << 8) | b[3]) + b[4];

		if (keyext > body || (u64)body + 24 > len)
			return false;
		*type = b[0] == 0x80 ? TypeRequest : TypeResponse;
		return true;
	}
	/* From 4 bytes: "mn\r\n", "stats\r\n", "get k\r\n" and "mg k\r\n" are whole commands. The words
	 * that need more than the line's bytes never match the head's zeros after them. */
	if (len < 4 || tail != ('\r' | ('\n' << 8)))
		return false;
	w0 = le32(b);
	w1 = le32(b + 4);
	w03 = w0 & 0xffffff;
	if (w0 == W4('g', 'e', 't', ' ') || w0 == W4('s', 'e', 't', ' ') || w0 == W4('a', 'd', 'd', ' ') ||
	    w0 == W4('c', 'a', 's', ' ') || w0 == W4('g', 'a', 't', ' ') || w0 == W4('m', 'n', '\r', '\n') ||
	    ((w0 == W4('g', 'e', 't', 's') || w0 == W4('g', 'a', 't', 's') || w0 == W4('i', 'n', 'c', 'r') ||
	      w0 == W4('d', 'e', 'c', 'r')) && b[4] == ' ') ||
	    w03 == W3('m', 'g', ' ') || w03 == W3('m', 's', ' ') || w03 == W3('m', 'd', ' ') ||
	    w03 == W3('m', 'a', ' ') ||
	    (w0 == W4('d', 'e', 'l', 'e') && w1 == W4('t', 'e', ' ', b[7])) ||
	    (w0 == W4('t', 'o', 'u', 'c') && (w1 & 0xffff) == ('h' | (' ' << 8))) ||
	    (w0 == W4('s', 't', 'a', 't') && (b[4] == 's')) ||
	    (w0 == W4('v', 'e', 'r', 's') && w1 == W4('i', 'o', 'n', '\r')) ||
	    (w0 == W4('f', 'l', 'u', 's') && w1 == W4('h', '_', 'a', 'l'))) {
		*type = TypeRequest;
		return true;
	}
	if ((w0 == W4('V', 'A', 'L', 'U') && (w1 & 0xffff) == ('E' | (' ' << 8))) ||
	    (w0 == W4('S', 'T', 'O', 'R') && w1 == W4('E', 'D', '\r', '\n')) ||
	    (w0 == W4('N', 'O', 'T', '_') && (w1 == W4('S', 'T', 'O', 'R') || w1 == W4('F', 'O', 'U', 'N'))) ||
	    (w0 == W4('D', 'E', 'L', 'E') && w1 == W4('T', 'E', 'D', '\r')) || w03 == W3('V', 'A', ' ')) {
		*type = TypeResponse;
		return true;
	}
	return false;
}

/* MQTT's protocol name and level at p: "\0\4MQTT" with 4 (3.1.1) or 5, or "\0\6MQIsdp" with 3. */
static __always_inline bool mqtt_name(const u8 *p)
{
	return p[0] == 0 && ((p[1] == 4 && p[2] == 'M' && p[3] == 'Q' && p[4] == 'T' && p[5] == 'T' &&
			      (p[6] == 4 || p[6] == 5)) ||
			     (p[1] == 6 && p[2] == 'M' && p[3] == 'Q' && p[4] == 'I' && p[5] == 's' && p[6] == 'd' &&
			      p[7] == 'p' && p[8] == 3));
}

/* An MQTT CONNECT (a client's first packet) at b: its remaining length in one or two bytes, then
 * the protocol name. */
static __always_inline bool mqtt_connect(const u8 *b, u64 len)
{
	if (len < 12 || b[0] != 0x10)
		return false;
	if (!(b[1] & 0x80))
		return mqtt_name(b + 2);
	return len >= 13 && !(b[2] & 0x80) && mqtt_name(b + 3);
}

/* An MQTT CONNACK written alone: 3.1.1 (flags, return code 0..5) or 5 (flags, reason code 0 or an
 * error, properties of one-byte length filling the packet). */
static __always_inline bool mqtt_connack(const u8 *b, u64 len)
{
	if (len < 4 || len > 129 || b[0] != 0x20 || b[1] != len - 2 || b[2] > 1)
		return false;
	return (len == 4 && b[3] <= 5) || (len >= 5 && b[4] == len - 5 && (b[3] == 0 || b[3] >= 0x80));
}

/* An AMQP 0-9-1 method frame at b whose header fits in len: frame type 1, a known class on a
 * fitting channel (connection on channel 0, the others on another), a method id of the class's
 * pattern (10, 11, … 120). Returns its message type, or 0 when it is not one. Methods both sides
 * send (close, close-ok, flow, cancel, ack, nack) have no type. */
static __always_inline int amqp_method(const u8 *b, u64 len, u32 *type)
{
	u32 size = be32(b + 3);
	u16 class = ((u16)b[7] << 8) | b[8];
	u16 chan = ((u16)b[1] << 8) | b[2];
	u8 m = b[10];

	if (len < 12 || b[0] != 1 || size < 4 || (u64)size + 8 > len || b[9] != 0 || m < 10 || m > 120 ||
	    m % 10 > 2)
		return 0;
	if (class != 10 && class != 20 && class != 40 && class != 50 && class != 60 && class != 85 && class != 90)
		return 0;
	if ((class == 10) != (chan == 0))
		return 0;
	*type = TypeRequest;
	if ((class == 10 && (m == 10 || m == 20 || m == 30)) || (class == 60 && (m == 50 || m == 60 || m == 72)) ||
	    m % 10 == 1)
		*type = TypeResponse;
	if ((class == 10 && (m == 50 || m == 51)) || (class == 20 && m >= 20) ||
	    (class == 60 && (m == 30 || m == 31 || m == 80 || m == 120)))
		*type = TypeUnknown;
	return 1;
}

/* HTTP/2 over cleartext, at the start of a connection only: a client's first bytes are the
 * preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (24 bytes; b holds the first 16), a server's first frame
 * is SETTINGS (type 4, no ACK, stream 0) of whole 6-byte parameters (at most 10; the first one's id
 * a defined setting, 1 to 9), all of it in the buffer. */
static __always_inline bool h2_preface(const u8 *b, u64 len)
{
	return len >= 24 && le32(b) == W4('P', 'R', 'I', ' ') && le32(b + 4) == W4('*', ' ', 'H', 'T') &&
	       le32(b + 8) == W4('T', 'P', '/', '2') && le32(b + 12) == W4('.', '0', '\r', '\n');
}

static __always_inline bool h2_settings(const u8 *b, u64 len)
{
	u32 n = ((u32)b[0] << 16) | ((u32)b[1] << 8) | b[2];

	if (len < 9 || b[3] != 4 || b[4] != 0 || b[5] != 0 || b[6] != 0 || b[7] != 0 || b[8] != 0 ||
	    n % 6 != 0 || n > 60 || 9 + n > len)
		return false;
	return n == 0 || (len >= 11 && b[9] == 0 && b[10] >= 1 && b[10] <= 9);
}

/* A TLS handshake record that starts with a ClientHello or ServerHello (content type 22, version
 * 3.0 to 3.4, handshake type 1 or 2, the hello's own version 3.0 to 3.4): the start of a TLS
 * connection, seen on its socket. The hello's version matters: without it a DNS query whose ID is
 * 0x1603 (then flags 0x01xx, one question) passed for a ClientHello, and its connection went silent. */
static __always_inline bool tls_hello(const u8 *b, u64 len)
{
	return len >= 11 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4 && (b[5] == 1 || b[5] == 2) && b[9] == 3 &&
	       b[10] <= 4;
}

/* Returns the protocol of a buffer that begins with b (len bytes, b holds min(len,16)), and its
 * message type. tail = its last two bytes; lh/lh_pending = a preceding 4-byte header read;
 * len2 = the value of a preceding 2-byte read (0: none); first: the buffer starts its direction
 * of the connection. */
static __always_inline u32 detect(const u8 *b, u64 len, u16 tail, u32 lh, bool lh_pending, u16 len2,
				  bool dgram, bool first, u32 *type)
{
	*type = TypeUnknown;
	if (len >= 8) {
		if ((b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ') ||
		    (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
		    (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ') ||
		    (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ') ||
		    (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H' && b[5] == ' ') ||
		    (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' && b[5] == 'E' &&
		     b[6] == ' ') ||
		    (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' && b[5] == 'N' &&
		     b[6] == 'S')) {
			*type = TypeRequest;
			return ProtoHTTP;
		}
		if (b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' && b[5] == '1' &&
		    b[6] == '.') {
			*type = TypeResponse;
			return ProtoHTTP;
		}
	}
	/* RESP: an array, integer or bulk string begins with its count, length or value (a digit, or
	 * '-' for null): IMAP's greeting "* OK …" is not a Redis command. Never a datagram, nor a
	 * message read after its 2-byte length: a DNS query's random ID and the random cookie that
	 * ends dig's made a Redis reply of 1 in 3.4 million queries (ID 0x24xx, '$', and a cookie
	 * ending in CRLF). Tested before DNS, not after: the other order took the verifier past its
	 * million instructions in data_main_btf. */
	if (!dgram && len2 != len && len >= 3 && tail == ('\r' | ('\n' << 8)) &&
	    (b[0] == '+' || b[0] == '-' ||
	     ((b[0] == '*' || b[0] == ':' || b[0] == '$') && ((b[1] >= '0' && b[1] <= '9') || b[1] == '-')))) {
		*type = b[0] == '*' ? TypeRequest : TypeResponse;
		return ProtoRedis;
	}
	if (len >= 5 && (le32(b) & 0xffffff) == len - 4 && b[3] == 0 && mysql_command(b[4])) {
		*type = TypeRequest;
		return ProtoMySQL;
	}
	if (lh_pending && (lh & 0xffffff) == len && (lh >> 24) == 0 && mysql_command(b[0])) {
		*type = TypeRequest;
		return ProtoMySQL;
	}
	if (len >= 8 && be32(b) == len && be32(b + 4) == 196608) {
		*type = TypeRequest;
		return ProtoPGSQL;
	}
	if (len >= 6 && b[0] == 'Q' && be32(b + 1) == len - 1) {
		*type = TypeRequest;
		return ProtoPGSQL;
	}
	/* DNS before the protocols told by a magic number at the start (Mongo, Dubbo, HSF, Kafka): a
	 * bare DNS message begins with its random ID, which is 0xdabb or 0x0e01 as often as any, while
	 * DNS's own tests (a sane header, and over TCP a length that matches exactly) are stronger. */
	if (dgram && len >= 12 && len <= 512 && dns_header(b)) {
		*type = (b[2] & 0x80) ? TypeResponse : TypeRequest;
		return ProtoDNS;
	}
	/* DNS over TCP: a 2-byte length, then the message, in one buffer (what resolvers write) … */
	if (!dgram && len >= 14 && len <= 65537 && ((((u32)b[0] << 8) | b[1]) == len - 2) && dns_header(b + 2)) {
		*type = (b[4] & 0x80) ? TypeResponse : TypeRequest;
		return ProtoDNS;
	}
	/* … or read as the length alone, then the message (what servers such as dnsmasq do). */
	if (!dgram && len2 && len2 == len && len >= 12 && dns_header(b)) {
		*type = (b[2] & 0x80) ? TypeResponse : TypeRequest;
		return ProtoDNS;
	}
	if (len >= 16 && le32(b) >= 16 && le32(b) <= len) {
		u32 op = le32(b + 12);
		if (op == 2013 || op == 2004 || op == 1 || op == 2012) {
			*type = le32(b + 8) == 0 ? TypeRequest : TypeResponse;
			return ProtoMongo;
		}
	}
	if (len >= 16 && b[0] == 0xda && b[1] == 0xbb) {
		*type = (b[2] & 0x80) ? TypeRequest : TypeResponse;
		return ProtoDubbo;
	}
	if (len >= 16 && b[0] == 0x0e && b[1] == 0x01 && b[2] <= 1) {
		*type = b[2] == 0 ? TypeRequest : TypeResponse;
		return ProtoHSF;
	}
	if (len >= 14 && be32(b) == len - 4 && kafka_request(b + 4, len - 4)) {
		*type = TypeRequest;
		return ProtoKafka;
	}
	if (lh_pending && be32((const u8 *)&lh) == len && len >= 10 && kafka_request(b, len)) {
		*type = TypeRequest;
		return ProtoKafka;
	}
	if (!dgram && first && h2_preface(b, len)) {
		*type = TypeRequest;
		return ProtoHTTP2;
	}
	if (!dgram && first && h2_settings(b, len)) {
		*type = TypeResponse;
		return ProtoHTTP2;
	}
	if (!dgram && nats_start(b, len, tail, type))
		return ProtoNATS;
	if (!dgram && memcached_start(b, len, tail, type))
		return ProtoMemcached;
	/* MQTT: a client's CONNECT or a server's CONNACK, the first packet of each side. */
	if (mqtt_connect(b, len)) {
		*type = TypeRequest;
		return ProtoMQTT;
	}
	if (mqtt_connack(b, len)) {
		*type = TypeResponse;
		return ProtoMQTT;
	}
	/* AMQP 0-9-1: the client's protocol header, or any method frame (connections that were open
	 * before the observer started). */
	if (len == 8 && b[0] == 'A' && b[1] == 'M' && b[2] == 'Q' && b[3] == 'P' && b[4] == 0 && b[5] == 0 &&
	    b[6] == 9 && b[7] == 1) {
		*type = TypeRequest;
		return ProtoAMQP;
	}
	if (amqp_method(b, len, type))
		return ProtoAMQP;
	return ProtoUnknown;
}

#endif
