/* SPDX-License-Identifier: Apache-2.0
 *
 * Definitions shared by the BPF programs and their loader (not part of the libebpf.so ABI).
 */
#ifndef NETOBSERVER_SHARED_H
#define NETOBSERVER_SHARED_H

/* Entries of the kernel connection map. */
#define NETOBSERVER_MAX_CONNS 65536
/* Connection ids ebpf_cleanup_dog's uprobe reads per call; ebpf_delete_map_value splits larger
 * batches. */
#define NETOBSERVER_CLEANUP_BATCH 64

/* Slots of the tail-call program array. */
#define TAIL_DATA_MAIN 0
#define TAIL_EMIT_SEGMENTS 1
#define TAIL_MMSG_COUNT 2
#define TAIL_HTTP_HEAD 3 /* tp_btf set only; empty in the others */
#define TAIL_MEMC_HEAD 4 /* tp_btf set only; empty in the others */
#define TAIL_HTTP_AGG 5  /* tp_btf set with bpf_loop only, and only with kernel aggregation on */
#define TAIL_REDIS_AGG 6 /* the same, for Redis */
#define NETOBSERVER_NUM_TAILS 7

/* Event rings of the ring buffer transport, indexed by callback_type_e (ctrl, data, stats) and
 * PROC_HAND (process events, the optional extension). */
#define NETOBSERVER_NUM_RINGS 4

/* Go crypto/tls probes (netobserver extension): the attach cookie of each probe on
 * (*tls.Conn).Write / Read and their RET instructions packs what the program needs of that binary:
 * bits 0-15 the offset of the net.Conn's data word in tls.Conn, 16-31 of the *netFD in
 * net.TCPConn, 32-47 of Sysfd in netFD, 48-55 the direction (support_direction_e), 56-63
 * NETOBSERVER_GOTLS_MAGIC (a probe without a cookie reads 0 and is refused). observer/gotls
 * builds it (Binary.Cookie). */
#define NETOBSERVER_GOTLS_MAGIC 0x67ull

/* The single entry of config_map, written by ebpf_config. */
struct netobserver_config {
	unsigned int proto_mask;  /* bit p-1 enables data events of protocol p */
	unsigned int proto_set;   /* PROTOCOL_FILTER was set at least once */
	int tgid_filter;          /* > 0: only this process, all protocols */
	int self_pid;             /* > 0: never track this process */
	int port_filter;          /* stored only, as in the original */
	int sampling;             /* 0..100 */
	/* Ring buffer transport: a quarter of each kind's ring size (callback_type_e, PROC_HAND); an
	 * event that finds more bytes than this waiting wakes the consumer. Kept here so the
	 * programs ask the ring one question per event, not two. */
	unsigned int ring_wake[NETOBSERVER_NUM_RINGS];
	/* 1 once an OpenSSL entry probe is attached (netobserver_attach_uprobe), 0 again when the
	 * probes are detached: until then a data syscall skips the SSL call lookup (tls_nested). */
	unsigned int tls_calls;
	/* Kernel aggregation (netobserver_kernel_aggregation2): bit p-1 aggregates protocol p in the
	 * kernel instead of exporting its data (HTTP/1.x and Redis). 0: today's capture. */
	unsigned int agg_mask;
};

/* Per-connection state in conn_map, keyed by (tgid << 32 | fd). LRU: processes that exit never
 * call close(), and a full map must drop the stalest entry, not refuse new connections. The loader
 * reads it too: ebpf_delete_map_value reports the final counters of what it deletes. */
struct conn {
	struct connect_id_t id;
	union sockaddr_t addr;
	uint32_t role;
	uint32_t protocol;
	uint32_t length_header;
	uint8_t sampled;
	uint8_t lh_pending; /* the previous ingress syscall was a 4-byte read */
	uint8_t sock_type;
	uint8_t tls;    /* the socket carries TLS: its bytes are ciphertext, only the TLS probes'
			 * plaintext goes out as data (see tls_plaintext) */
	uint16_t len2;  /* a 2-byte big-endian length just read, alone or a byte at a time (DNS over TCP) */
	uint8_t byte1;  /* the first byte of a length read a byte at a time (dnsmasq does) */
	uint8_t byte1_pending;
	int64_t wr_bytes;
	int64_t rd_bytes;
	int32_t wr_pkts;
	int32_t rd_pkts;
	int64_t last_wr_bytes;
	int64_t last_rd_bytes;
	int32_t last_wr_pkts;
	int32_t last_rd_pkts;
	uint64_t file; /* the struct file of the fd when tracking began (0: unknown): close's exit
			* must not forget a connection that already reuses the fd number */
	/* Stream position where the HTTP body that runs past the last syscall ends, per direction
	 * (0: none known): bytes before it are exported as sizes only. */
	uint64_t wr_body_end;
	uint64_t rd_body_end;
	/* TLS connections: the plaintext stream positions (bytes the TLS library handed over), the
	 * pos of their data events; wr_bytes/rd_bytes stay the socket's. */
	uint64_t tls_wr_pos;
	uint64_t tls_rd_pos;
	/* Kernel aggregation of this connection: AGG_CONN_*. */
	uint8_t agg;
};

/* struct conn's agg: the connection's HTTP calls are not aggregated (yet), are (it has an entry in
 * agg_conns), or fell back to today's capture for good. */
#define AGG_CONN_OFF 0
#define AGG_CONN_ON 1
#define AGG_CONN_FALLBACK 2

/* Bounds of the kernel aggregation maps. Neither is preallocated: with the mode off they cost
 * nothing. A full map is a fallback (NETOBSERVER_AGG_FB_FULL). */
#define NETOBSERVER_AGG_CONNS 65536
#define NETOBSERVER_AGG_ENTRIES 65536

/* Per-connection state of the aggregation state machine, while the connection is aggregated
 * (agg_conns; libebpf reads the states left pending at a stop). */
enum agg_state {
	AGG_IDLE,       /* no request seen yet */
	AGG_PENDING,    /* a request seen, its response not started */
	AGG_RESPONDING, /* the response started: response-direction bytes are its own */
};

/* Head bytes of a pending request kept to export it if the connection falls back before its
 * response: a request with a longer head is not aggregated. */
#define AGG_HEAD_KEEP 1024
/* A scan block (64 bytes) and a header line's two words past the block holding byte AGG_HEAD_KEEP. */
#define AGG_SCAN_ROOM 80
/* Bytes of a response's first syscall read for its head: a longer head leaves its length unknown. */
#define AGG_RESP_SCAN 256

struct agg_conn {
	struct netobserver_agg_key key; /* the current call's (status once its response starts) */
	/* The call key of the connection's last counted call and its number (agg_entry_key's slot),
	 * and the numbers given so far. */
	struct netobserver_agg_key last;
	uint32_t last_slot;
	uint32_t slots;
	uint64_t req_ts;
	uint64_t req_bytes;
	uint64_t body_left; /* request body bytes still to come */
	uint32_t state;
	/* The pending request came while the previous response, of unknown length, was under way
	 * (AGG_RESPONDING): its response direction may still carry that response's rest
	 * (NETOBSERVER_AGG_FB_UNFINISHED). */
	uint32_t after_response;
	/* The current response's length is known and resp_left of its bytes are still to come.
	 * HTTP: a Content-Length, or no body (HEAD, 204, 304). Redis: the reply's first bytes said
	 * it; a request before they all came falls back (NETOBSERVER_AGG_FB_REPLY_END). */
	uint32_t resp_known;
	uint32_t resp_pad;
	uint64_t resp_left;
	/* What was left of the previous response when the pending request came: the next
	 * response-direction bytes, up to this many, are its own (the call of last_slot). */
	uint64_t prev_left;
	/* A response's head is read here at its first syscall and scanned for its length, as the
	 * request head is in head. Before head: the scan's bound, that of head, lies within the
	 * entry. */
	uint8_t resp[AGG_RESP_SCAN + AGG_SCAN_ROOM];
	/* The pending request's data event as today's capture would have sent it (attributes, then
	 * the head: its body goes as a size), contiguous so that it is output as it is. */
	struct conn_data_event_attr_t attr;
	/* The request head is read from user memory straight into head and scanned there (one
	 * probe read, no copy): AGG_SCAN_ROOM past it holds the scan's sentinel and what its last
	 * block reads beyond it. */
	uint8_t head[AGG_HEAD_KEEP + AGG_SCAN_ROOM];
};

/* agg_entries is keyed by the connection and a number the connection gives each of its call
 * keys (agg_index holds the numbers), and an entry holds its call key: a call of the key the
 * connection's previous call had (most calls) is found by hashing these 24 bytes, not the
 * 120-byte call key. libebpf's readout hands out (call key, value) pairs as before. */
struct agg_entry_key {
	struct connect_id_t conn;
	uint32_t slot;
	uint32_t pad;
};
struct agg_entry {
	struct netobserver_agg_key key;
	struct netobserver_agg_value v;
};

/* Tail-call slots of the TLS probes' own program array (kprobe type): the plaintext program of
 * the set's transport, which every TLS return probe tail-calls, and the HTTP header scan (ring
 * buffer build only). */
#define TAIL_TLS_HTTP_HEAD 0
#define TAIL_TLS_PLAINTEXT 1
#define TAIL_TLS_NUM 2

/* Counters of the TLS probes (tls_counters, an array indexed by these). */
#define TLS_UNATTRIBUTED 0 /* calls whose plaintext is lost: their connection could not be found, or
			    * (never expected: the loader fills the slot before any probe is
			    * attached) the tail call to the plaintext program failed */
#define TLS_NUM_COUNTERS 1

/* Links netobserver_attach_uprobe keeps at once. */
#define NETOBSERVER_MAX_EXT_UPROBES 1024

#endif
