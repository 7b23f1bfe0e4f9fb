package kafka

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"

	"github.com/netobserver/netobserver/parser"
)

// API keys the parser reads the bodies of.
const (
	keyProduce         = 0
	keyFetch           = 1
	keyListOffsets     = 2
	keyMetadata        = 3
	keyOffsetCommit    = 8
	keyFindCoordinator = 10
	keyApiVersions     = 18
	keyCreateTopics    = 19
)

const (
	// maxSize bounds a message's size field: brokers refuse requests over 100 MiB by default
	// (socket.request.max.bytes), and fetch responses are bounded by fetch.max.bytes (50 MiB).
	maxSize = 1 << 30
	// maxVersion bounds an API version: the newest APIs are at 18 (Fetch).
	maxVersion = 40
	// waitBytes is how much of a message the parser waits for before it reads what it can: the
	// fields it records lie in the first few hundred bytes of a message.
	waitBytes = 16 << 10
	// maxTopic bounds a recorded topic name (Kafka allows 249 characters).
	maxTopic = 64
	// maxPending bounds the requests a connection remembers the API of, awaiting their
	// response: clients pipeline at most a few (franz-go and librdkafka default to 5 in flight).
	maxPending = 64
)

// pending is a request awaiting its response: a response's shape depends on its request's API
// key and version, and only the correlation id links them.
type pending struct {
	id       int32
	key, ver int16
	used     bool
}

// Conn is the parsing state of one connection: the requests awaiting their responses.
type Conn struct {
	in      *parser.Interner
	pending [maxPending]pending
	next    int
	// Forgotten counts requests forgotten because maxPending were awaiting responses: their
	// responses are Invalid and skipped.
	Forgotten uint64
}

// NewConn returns the parsing state of a new connection; strings come from in.
func NewConn(in *parser.Interner) *Conn { return &Conn{in: in} }

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	switch typ {
	case parser.Request:
		return c.parseRequest(buf, msg)
	case parser.Response:
		return c.parseResponse(buf, msg)
	}
	return parser.Result{Status: parser.Invalid}
}

// size reads a message's size field; ok is false when buf cannot start a message of at least min
// bytes, need when fewer than 4 bytes are there.
func size(buf []byte, min int) (n int, need, ok bool) {
	if len(buf) > 0 && buf[0] >= maxSize>>24 {
		return 0, false, false
	}
	if len(buf) < 4 {
		return 0, true, true
	}
	n = int(binary.BigEndian.Uint32(buf))
	return n, false, n >= min && n <= maxSize
}

// validRequestHeader says whether b, the start of a request after its size, may be a request
// header: a known API key, a version, a non-negative correlation id (clients count from 0).
func validRequestHeader(b []byte) bool {
	if len(b) >= 2 {
		key := int(binary.BigEndian.Uint16(b))
		if key >= len(apis) || apis[key].name == "" {
			return false
		}
	}
	if len(b) >= 4 && binary.BigEndian.Uint16(b[2:]) > maxVersion {
		return false
	}
	return len(b) < 5 || b[4] < 0x80
}

func (c *Conn) parseRequest(buf []byte, msg *Message) parser.Result {
	n, need, ok := size(buf, 10)
	switch {
	case !ok || !validRequestHeader(buf[min(len(buf), 4):]):
		return parser.Result{Status: parser.Invalid}
	case need || len(buf) < min(n+4, waitBytes):
		return parser.Result{Status: parser.NeedMore}
	}
	end := min(len(buf), n+4)
	r := reader{b: buf[4:end]}
	key, ver, id := r.int16(), r.int16(), r.int32()
	r.str() // client_id, a nullable string in every header version
	r.flex = ver >= apis[key].flexible && apis[key].flexible >= 0
	r.tags()
	if r.bad || r.short && end == n+4 {
		return parser.Result{Status: parser.Invalid}
	}
	*msg = Message{
		Type: parser.Request, Size: n + 4, Truncated: end < n+4,
		ID: id, Key: key, Version: ver, API: apis[key].name,
	}
	switch key {
	case keyProduce:
		c.produce(&r, msg)
	case keyFetch:
		c.fetch(&r, msg)
	}
	if !msg.OneWay {
		c.remember(id, key, ver)
	}
	return parser.Result{Status: parser.Complete, Consumed: n + 4}
}

// produce reads a Produce request's acks and first topic.
func (c *Conn) produce(r *reader, msg *Message) {
	if msg.Version >= 3 {
		r.str() // transactional_id
	}
	acks := r.int16()
	r.skip(4) // timeout_ms
	c.topic(r, msg, msg.Version >= 13)
	if r.ok() {
		// acks=0: the broker sends no response at all.
		msg.OneWay = acks == 0
	}
}

// fetch reads a Fetch request's first topic.
func (c *Conn) fetch(r *reader, msg *Message) {
	v := msg.Version
	if v < 15 {
		r.skip(4) // replica_id
	}
	r.skip(8) // max_wait_ms, min_bytes
	if v >= 3 {
		r.skip(4) // max_bytes
	}
	if v >= 4 {
		r.skip(1) // isolation_level
	}
	if v >= 7 {
		r.skip(8) // session_id, session_epoch
	}
	c.topic(r, msg, v >= 13)
}

// topic reads the topics array up to the first topic's name, or its id when byID (newer Produce
// and Fetch versions name topics by their UUID, written as Kafka's tools write it, in unpadded
// base64url), followed by " (+n)" when the request names n more.
func (c *Conn) topic(r *reader, msg *Message, byID bool) {
	n := r.array()
	if n == 0 {
		return
	}
	var b [maxTopic + 16]byte
	name := b[:0:maxTopic]
	if byID {
		if id := r.take(16); id != nil {
			name = name[:base64.RawURLEncoding.EncodedLen(16)]
			base64.RawURLEncoding.Encode(name, id)
		}
	} else {
		name = mask(name, r.str())
	}
	if !r.ok() {
		return
	}
	if n > 1 {
		name = append(b[:len(name)], " (+"...)
		name = strconv.AppendInt(name, int64(n-1), 10)
		name = append(name, ')')
	}
	msg.Topic, msg.Topics = c.in.Bytes(name), n
}

// mask appends name to dst, cut at maxTopic bytes, with every run of digits replaced by one '?':
// topics named after tenants, dates or partitions fold into one key.
func mask(dst, name []byte) []byte {
	for i := 0; i < len(name) && len(dst) < cap(dst); i++ {
		d := name[i] >= '0' && name[i] <= '9'
		if !d {
			dst = append(dst, name[i])
		} else if i == 0 || name[i-1] < '0' || name[i-1] > '9' {
			dst = append(dst, '?')
		}
	}
	return dst
}

func (c *Conn) remember(id int32, key, ver int16) {
	p := &c.pending[c.next]
	if p.used {
		c.Forgotten++
	}
	*p = pending{id: id, key: key, ver: ver, used: true}
	c.next = (c.next + 1) % maxPending
}

// lookup returns the request awaiting the response id, and whether any request awaits one.
func (c *Conn) lookup(id int32) (p *pending, awaiting bool) {
	for i := range c.pending {
		q := &c.pending[i]
		if q.used && q.id == id {
			return q, true
		}
		awaiting = awaiting || q.used
	}
	return nil, awaiting
}

func (c *Conn) parseResponse(buf []byte, msg *Message) parser.Result {
	n, need, ok := size(buf, 4)
	if !ok {
		return parser.Result{Status: parser.Invalid}
	}
	if need || len(buf) < 8 {
		return parser.Result{Status: parser.NeedMore}
	}
	id := int32(binary.BigEndian.Uint32(buf[4:]))
	p, awaiting := c.lookup(id)
	switch {
	case p == nil && (awaiting || id < 0):
		// Not the answer to any request seen: resynchronise (FindBoundary looks for one).
		return parser.Result{Status: parser.Invalid}
	case len(buf) < min(n+4, waitBytes):
		return parser.Result{Status: parser.NeedMore}
	}
	end := min(len(buf), n+4)
	*msg = Message{Type: parser.Response, Size: n + 4, Truncated: end < n+4, ID: id, Key: -1, Version: -1, Success: true}
	if p == nil {
		// The request was not seen (the observer came late): the response's shape is unknown.
		return parser.Result{Status: parser.Complete, Consumed: n + 4}
	}
	key, ver := p.key, p.ver
	*p = pending{}
	msg.Key, msg.Version, msg.API = key, ver, apis[key].name
	r := reader{b: buf[8:end], flex: apis[key].flexible >= 0 && ver >= apis[key].flexible}
	if key != keyApiVersions {
		r.tags() // ApiVersions answers with header v0 whatever its version, for old clients
	}
	code, known := errorCode(&r, key, ver)
	if known && r.ok() {
		msg.ErrorCode, msg.ErrorKnown, msg.Success = code, true, code == 0
	}
	return parser.Result{Status: parser.Complete, Consumed: n + 4}
}

// throttleFrom is, for the APIs whose response starts with an error code (after
// throttle_time_ms from some version on), that version; -1 when throttle_time_ms comes later.
var throttleFrom = map[int16]int16{
	11: 2,  // JoinGroup
	12: 1,  // Heartbeat
	13: 1,  // LeaveGroup
	14: 1,  // SyncGroup
	16: 1,  // ListGroups
	17: -1, // SASLHandshake
	18: -1, // ApiVersions
	22: 0,  // InitProducerID
	25: 0,  // AddOffsetsToTxn
	26: 0,  // EndTxn
	36: -1, // SASLAuthenticate
	60: 0,  // DescribeCluster
}

// errorCode reads a response's error code: the top-level one, or that of the first topic or
// partition for the APIs that answer per partition. known is false for the APIs it does not read.
func errorCode(r *reader, key, v int16) (code int16, known bool) {
	switch key {
	case keyProduce:
		return firstPartition(r, v >= 13), true
	case keyFetch:
		if v >= 1 {
			r.skip(4) // throttle_time_ms
		}
		if v >= 7 {
			if code := r.int16(); code != 0 {
				return code, true
			}
			r.skip(4) // session_id
		}
		return firstPartition(r, v >= 13), true
	case keyListOffsets, keyOffsetCommit:
		if key == keyListOffsets && v >= 2 || key == keyOffsetCommit && v >= 3 {
			r.skip(4)
		}
		return firstPartition(r, false), true
	case keyMetadata:
		return metadata(r, v), true
	case keyFindCoordinator:
		if v >= 1 {
			r.skip(4)
		}
		if v >= 4 && r.array() > 0 { // coordinators: key, node_id, host, port, error_code
			r.str()
			r.skip(4)
			r.str()
			r.skip(4)
		}
		return r.int16(), true
	case keyCreateTopics:
		if v >= 2 {
			r.skip(4)
		}
		if r.array() == 0 {
			return 0, true
		}
		r.str()
		if v >= 7 {
			r.skip(16) // topic_id
		}
		return r.int16(), true
	}
	if from, ok := throttleFrom[key]; ok {
		if from >= 0 && v >= from {
			r.skip(4)
		}
		return r.int16(), true
	}
	return 0, false
}

// firstPartition reads the error code of the first partition of the first topic of a response
// whose topics are arrays of partitions (name or id, then index, then error code); 0 when there
// is none.
func firstPartition(r *reader, byID bool) int16 {
	if r.array() == 0 {
		return 0
	}
	if byID {
		r.skip(16)
	} else {
		r.str()
	}
	if r.array() == 0 {
		return 0
	}
	r.skip(4) // partition_index
	return r.int16()
}

// metadata reads the error code of a Metadata response's first topic, past the brokers.
func metadata(r *reader, v int16) int16 {
	if v >= 3 {
		r.skip(4) // throttle_time_ms
	}
	for n := r.array(); n > 0 && r.ok(); n-- {
		r.skip(4) // node_id
		r.str()   // host
		r.skip(4) // port
		if v >= 1 {
			r.str() // rack
		}
		r.tags()
	}
	if v >= 2 {
		r.str() // cluster_id
	}
	if v >= 1 {
		r.skip(4) // controller_id
	}
	if r.array() == 0 {
		return 0
	}
	return r.int16()
}

// FindBoundary implements parser.Parser: the next offset where a plausible message of typ starts.
// A response must answer a request awaiting one, when any does.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	for i := 1; i+8 <= len(buf); i++ {
		b := buf[i:]
		switch typ {
		case parser.Request:
			if _, _, ok := size(b, 10); ok && validRequestHeader(b[4:min(len(b), 9)]) {
				return i
			}
		case parser.Response:
			id := int32(binary.BigEndian.Uint32(b[4:]))
			if _, _, ok := size(b, 4); !ok || id < 0 {
				continue
			}
			if p, awaiting := c.lookup(id); p != nil || !awaiting {
				return i
			}
		default:
			return -1
		}
	}
	return -1
}
