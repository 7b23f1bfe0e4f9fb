// Package aggregate folds calls and L4 counters into the records of one flush interval, in either
// of the two schemas iLogtail users have dashboards on:
//
//   - schema A (the default): `protocols` records, one per process group, protocol, role, remote
//     and protocol fields per L7 interval, and `statistics` records, one per process group, role,
//     remote and socket kind per L4 interval;
//   - schema B (iLogtail 1.3 … 2.0): `l7_req` (HTTP, DNS) and `l7_db` (MySQL, PgSQL, Redis)
//     records per connection and request fields, and `l4` records per process, remote and role.
//
// It owns the aggregation state, bounded per protocol and process group by ProtocolAggCfg's caps,
// and the counters of what the caps turned away. It knows no protocol: a call's protocol fields,
// their names, its remote_type and its schema B record come from the call (parser.Exchange).
//
// Deliberate differences from iLogtail (see the README): recv_packets counts read syscalls, not
// write ones; SQL keeps the normalised statement, not just its verb; schema A's protocols records
// carry latency percentiles (p50_latency_ns, p90_latency_ns, p99_latency_ns) after iLogtail's
// fields, and schema B's tdigest_latency holds a real sketch (EncodeSketch) instead of a
// placeholder.
package aggregate
