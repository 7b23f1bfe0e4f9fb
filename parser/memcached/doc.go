// Package memcached parses memcached's three protocols on one connection: the text protocol
// (get, set, delete, incr, stats, …), the meta protocol (mg, ms, md, ma, mn, me) and the binary
// protocol (24-byte headers, magic 0x80/0x81). A record says the command and its outcome — hit or
// miss for reads, stored, not_stored, exists, not_found, deleted, touched, ok, or an error — and
// never a key or a value.
//
// One-way messages: a text command with noreply, quit, a meta command with the q flag, and a
// binary quiet opcode (GetQ, SetQ, …) expect no answer, so they are recorded at once as one-way
// calls with outcome "noreply" or "quiet". Quiet commands are answered only when something is
// worth saying (mg q: a hit; ms q: not stored; any error): the parser remembers the commands
// sent (up to maxPending, in order) and tells such an answer from the answer of a later command
// — binary answers echo their opcode and opaque; meta answers by what quiet mode still says
// (an EN cannot answer an mg q, so that mg had no answer; an NS can answer an ms q) — and records it as a
// one-way message of its own, with the quiet command's name and the answer's outcome.
package memcached
