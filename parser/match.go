package parser

// Waiting is a parsed message waiting for its other half, with the CLOCK_MONOTONIC ns of the
// event that carried its first byte.
type Waiting[M any] struct {
	TS  uint64
	Msg M
	// frame is Msg's Frame, asked once when it was parsed: the Frame method is called through
	// the generic dictionary, not inlined, and a call needs both frames again.
	frame Frame
}

// Matcher is how a protocol pairs requests with responses on one connection (Pixie's
// StitchFrames, Kyanos' Match). Conn keeps the queues, bounds and counts; a Matcher only says
// which waiting message is the other half of a new one.
type Matcher[M any] interface {
	// Match returns the index in others — the messages of the other type waiting, oldest first —
	// of the other half of m, or -1. isRequest says m is a request.
	Match(others []Waiting[M], m *Waiting[M], isRequest bool) int
	// Ordered says responses come in the order of their requests. Conn then gives up what
	// ordering proves unanswerable: responses older than a new request (their requests were
	// lost), and the requests whose answers were in lost response bytes.
	Ordered() bool
}

// InOrder pairs the n-th response with the n-th request (HTTP/1, Redis, MySQL, PgSQL).
type InOrder[M any] struct{}

// Match pairs m with the oldest message waiting, provided the request is not newer than the
// response: a request newer than a response cannot be what it answers (that request was lost).
func (InOrder[M]) Match(others []Waiting[M], m *Waiting[M], isRequest bool) int {
	return matchInOrder(others, m, isRequest)
}

// matchInOrder is InOrder's Match, which Conn calls directly rather than through the Matcher
// interface: most protocols match in order, and it runs once per message.
func matchInOrder[M any](others []Waiting[M], m *Waiting[M], isRequest bool) int {
	if len(others) == 0 {
		return -1
	}
	req, resp := others[0].TS, m.TS
	if isRequest {
		req, resp = m.TS, others[0].TS
	}
	if req > resp {
		return -1
	}
	return 0
}

// Ordered is true.
func (InOrder[M]) Ordered() bool { return true }

// ByID pairs a response with the waiting request of the same id, in any order: the DNS
// transaction id, or an HTTP/2 stream id. The function returns a message's id.
type ByID[M any] func(*M) uint64

// Match returns the oldest message waiting with m's id.
func (id ByID[M]) Match(others []Waiting[M], m *Waiting[M], _ bool) int {
	want := id(&m.Msg)
	for i := range others {
		if id(&others[i].Msg) == want {
			return i
		}
	}
	return -1
}

// Ordered is false.
func (ByID[M]) Ordered() bool { return false }
