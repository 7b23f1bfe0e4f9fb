// Package kafka parses the Kafka protocol: size-prefixed requests with a header (API key and
// version, correlation id, client id; tagged fields in flexible versions) and responses that
// carry only the correlation id, which pairs them (parser.ByID). A response's shape depends on
// its request, so the parser remembers the API key and version of up to 64 requests awaiting
// their response per connection.
//
// A request records its API's name (Produce, Fetch, Metadata, …) and version; a Produce or
// Fetch also its first topic and, when it names several, how many more (" (+2)"). Topic names
// are cut at 64 bytes and every run of digits becomes one '?' (orders-2024 → orders-?), so that
// topics named after tenants or dates fold into one key; newer versions (Produce and Fetch 13+)
// name topics by id, recorded as Kafka's tools print it (unpadded base64url). No record content,
// key or header is parsed.
//
// A response records its error code: the top-level one, or the first partition's (Produce,
// Fetch, ListOffsets, OffsetCommit), the first topic's (Metadata, CreateTopics), for Produce,
// Fetch, ListOffsets, Metadata, OffsetCommit, FindCoordinator, JoinGroup, Heartbeat,
// LeaveGroup, SyncGroup, ListGroups, SASLHandshake, ApiVersions, CreateTopics, InitProducerID,
// AddOffsetsToTxn, EndTxn, SASLAuthenticate and DescribeCluster; others record none (a call
// succeeds unless an error code read says otherwise). Sizes are the messages' own: a Produce's
// request size and a Fetch's response size are what was produced and fetched, framing included.
//
// A Produce with acks=0 gets no response: it is one-way (parser.Frame.OneWay).
package kafka
