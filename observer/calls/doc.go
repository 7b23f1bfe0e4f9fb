// Package calls turns the data events of connections into calls: a request paired with its
// response, with the latency between them. It owns the per-connection state — the role, the
// stream buffer of each direction (observer/stream), the protocol's parser.Conn that parses and
// pairs — the order in which both directions are parsed, the bounds, and the counters of
// everything it could not pair or parse. It knows no protocol: they come from parser/protocols.
//
// A Tracker is an abi.Visitor: feed it each batch with Batch.Visit, then call EndBatch. Data
// events only place bytes; parsing and matching happen in EndBatch, both directions of a
// connection interleaved in the order of the traffic (the older head first), so that a response
// meets its request, and a request the answers before it (a MySQL EXECUTE the PREPARE answer that
// names its statement). A response polled from one CPU before its request from another is held
// briefly; a request queue that is full waits for the responses that will make room. A stream
// stopped at missing bytes holds the other back at the time of the bytes after the hole, until
// the hole fills or is given up — at once when a poll that emptied every ring did not fill it —
// so that loss costs only the calls it touched.
//
// State is bounded: MaxConnections connections (the least recently active one is forgotten to
// make room), MaxPending messages waiting per connection, StreamCap bytes per stream. Whatever
// is given up is counted, per protocol.
package calls
