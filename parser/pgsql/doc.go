// Package pgsql parses the PostgreSQL frontend/backend protocol (version 3) for netobserver: it
// owns message framing, the start-up and authentication phase, how client messages group into
// requests and where each response ends. The SQL text itself is normalised by parser/sqlnorm.
//
// A request is either a simple Query ('Q': Method is the verb of its first statement, Resource
// the normalised text) or an extended-protocol group: every message up to and including Sync
// ('P' Parse, 'B' Bind, 'D' Describe, 'E' Execute, 'C' Close, 'H' Flush, 'S' Sync). Parse
// remembers statement name → text and Bind portal → statement, so a group is recorded with the
// statement its first Execute ran; a group that only prepares is recorded as PREPARE with the
// statement text. A FunctionCall ('F') is a request of its own.
//
// A response is everything the server sends up to and including ReadyForQuery ('Z'): a simple
// query with several statements has several CommandCompletes and one 'Z', and every Sync or Query
// is answered by exactly one 'Z', so requests and responses pair in order. Success is false when
// the response holds an ErrorResponse. NoticeResponse, ParameterStatus and NotificationResponse
// may come at any time: inside a response they are part of it, between responses they are
// Ignored. The COPY sub-protocol is framed: CopyData, CopyDone and CopyFail from the client are
// Ignored (they belong to the COPY request), the server's copy messages are part of its response.
//
// StartupMessage, SSLRequest and GSSENCRequest with their one-byte answer, CancelRequest,
// the authentication exchange, ParameterStatus, BackendKeyData and the first ReadyForQuery are
// Ignored, as are Terminate and password messages. After an accepted SSLRequest or GSSENCRequest
// the connection is encrypted and every byte is Ignored.
//
// Long requests and responses are parsed as they arrive: whole messages are consumed and reported
// Ignored while the request or response is incomplete, and the last part is reported Complete
// with Size counting all of it. Messages longer than 16 KiB are not waited for: their start is
// enough, and the caller skips their body by stream position (Consumed then exceeds the buffer).
package pgsql
