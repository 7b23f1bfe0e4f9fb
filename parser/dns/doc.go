// Package dns parses DNS queries and responses (RFC 1035) over UDP and TCP for netobserver, and
// reads the A and AAAA records of answers, which name remote addresses (remote_host). README.md
// explains how the framing is told from the bytes, how names are read, and what a Message holds.
package dns
