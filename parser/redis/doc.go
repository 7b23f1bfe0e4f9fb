// Package redis parses the Redis serialization protocol, RESP2 and RESP3, for netobserver: RESP
// framing, the Method of requests (the command name, from Redis's own command table, or UNKNOWN),
// and telling replies apart from what a server sends unasked (pub/sub pushes, MONITOR feeds).
// Keys and values never leave the host. README.md explains the pairing of replies and pushes and
// how large values are skipped.
package redis
