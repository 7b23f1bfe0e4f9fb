// Package mysql parses the MySQL (and MariaDB) client/server protocol for netobserver: it owns
// the packet framing, the handshake, the commands a client sends and the exact end of every
// response. The SQL text itself is normalised by package parser/sqlnorm.
//
// A request is one command packet (sequence id 0). COM_QUERY and COM_STMT_PREPARE carry a
// statement: Method is its verb, Resource its normalised text. COM_STMT_EXECUTE carries a statement
// id; the Conn remembers, per id, the statement of the COM_STMT_PREPARE whose COM_STMT_PREPARE_OK
// announced it, so an execution is recorded like the statement it runs. Other commands are
// recorded by name (PING, INIT_DB, STMT_RESET, …) with no Resource.
//
// Commands the server never answers (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) and the
// replication stream (COM_BINLOG_DUMP…) are Ignored, so that in-order matching pairs every
// recorded request with a response. So are the server greeting, the login request and the whole
// authentication exchange, recognised by their sequence ids (the server's greeting is 0, the
// client's login 1, and every command restarts at 0, so its response starts at 1).
//
// A response is every packet the server sends for one command: an OK, an ERR (Success false), an
// EOF, or result sets — column count, column definitions, [EOF], rows, EOF or OK — chained while
// SERVER_MORE_RESULTS_EXISTS is set. The Conn remembers which command each pending request was,
// so the shape to expect is known; sequence ids must follow on, or the response is Invalid.
//
// Long responses are parsed as they arrive: whole packets are consumed and reported as Ignored
// while the response is incomplete, and the last part is reported Complete with Size counting the
// whole response. Packets longer than 16 KiB are not waited for: their header is enough, and the
// caller skips their body by stream position (Consumed then exceeds the buffer, for Ignored as
// for Complete). TLS and compressed connections are recognised from the handshake and skipped.
package mysql
