// Package protocol is a stand-in for iLogtail's pkg/protocol, for compile checks only: it declares
// the one type the netobserver plugin adapter uses, with the fields iLogtail's generated type has.
package protocol

// Log is one log entry: its time in seconds and its key/value contents in order.
type Log struct {
	Time     uint32
	Contents []*Log_Content
}

// Log_Content is one key/value of a Log. The underscore is in the real (protobuf-generated) name.
type Log_Content struct {
	Key   string
	Value string
}
