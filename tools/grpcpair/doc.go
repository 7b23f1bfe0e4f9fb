// Command grpcpair is a gRPC server and client over h2c (HTTP/2 without TLS), written with
// grpc-go, for the tests that check what netobserver records of gRPC calls against the client's
// and the server's own counts.
//
//	grpcpair server -listen 10.0.0.1:50051
//	grpcpair client -addr 10.0.0.1:50051 -n 3000 -conns 4 -concurrency 32 [-watch 5] [-hold 0]
//
// The server has two services: grpc-go's health service (grpc.health.v1.Health, with "" SERVING)
// and netobserver.test.Echo, registered by hand with a codec of raw bytes (content-type
// application/grpc+raw): Unary answers OK, Fail answers PERMISSION_DENIED, Stream (server
// streaming) sends three messages and ends OK. On SIGTERM or SIGINT it stops and prints what it
// served, "served <method> <code> <n>" per method and status code.
//
// The client opens -conns connections and makes -n calls over them, -concurrency at a time, call
// i of kind i mod 5: Health/Check "" (OK), Health/Check "unknown" (NOT_FOUND), Echo/Unary,
// Echo/Fail, Echo/Stream (its three messages read to the end). -watch adds that many
// Health/Watch calls, each cancelled by the client after the first message (CANCELED). With
// -hold, it keeps the connections open and idle that long after the calls, then makes -n calls
// again (a connection an observer can join in its middle). It prints "calls <method> <code> <n>"
// per method and status code, then "connections <n>"; it exits 1 if a call ended otherwise than
// its kind says.
package main
