// Package parser is the contract between the pipeline and the L7 protocols, and the machinery
// every protocol shares. A protocol (parser/http, parser/redis, parser/mysql, parser/pgsql,
// parser/dns) is one package that declares a Spec: its typed message, its Parser, its Matcher,
// its record fields for both schemas, its stream hints and side outputs. parser/protocols lists
// them; that list is the only other place a new protocol touches (see README.md).
//
// The pipeline sees a protocol through Protocol and a connection through Conn: Conn parses with
// the protocol's Parser, holds the messages waiting for their other half and pairs them with the
// protocol's Matcher, after the parse/stitch split of Pixie's socket tracer. A pair leaves as an
// Exchange, which renders the protocol's record fields on demand.
//
// Parsers are pure functions of their input and their per-connection state: no I/O, no clocks,
// no goroutines, no panics on any input, no allocation per byte and, in steady state, none per
// message (strings come from an Interner).
package parser
