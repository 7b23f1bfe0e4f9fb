// Package http2 parses HTTP/2 over cleartext TCP (h2c, with prior knowledge or upgraded from
// HTTP/1.1) for netobserver, gRPC included.
//
// It owns HTTP/2 framing (RFC 9113): the client preface, the 9-byte frame header of every frame,
// header blocks spread over HEADERS and CONTINUATION frames, padding and priority, and HPACK
// (RFC 7541) with one dynamic table per direction, bounded by SETTINGS_HEADER_TABLE_SIZE and at
// most MaxTable. Streams interleave: a Conn keeps each open stream's side and completes its
// message at the frame with END_STREAM (or its RST_STREAM), one frame per Parse call; the
// message's size is the bytes of all its stream's frames in that direction. Responses pair with
// requests by stream id. Responses on streams the server opened (server push) answer no request
// and are skipped.
//
// Records show a call as protocol http2: version "2", host (:authority), method, url (:path
// without its query string, as HTTP/1's), resp_code (:status) and, in schema A, grpc_status. A
// gRPC call (content-type application/grpc) is an HTTP/2 POST whose url is /package.Service/Method
// — its service and method — and whose grpc_status (schema A) or resp_status (schema B) is the
// grpc-status of its trailers or trailers-only response; "-1" when the call is not gRPC. A
// response succeeds when its :status is below 400, it was not reset, and, for gRPC, grpc-status
// is 0.
//
// An HTTP/1.1 connection upgraded to h2c comes here at its 101 (parser.Adopter): the upgraded
// request, parsed by parser/http, is stream 1's request.
//
// A connection joined after it started (no preface seen), or whose bytes were lost, has HPACK
// state it never saw. The decoder then holds only what it saw, which indexes the same fields as
// the encoder's newest entries, so it never decodes a reference to a wrong field: a field that
// refers to an entry never seen is left unresolved, and its message is recorded with what was
// decoded and marked Partial (and Truncated), never guessed.
package http2
