package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/netobserver/netobserver/record"
	"github.com/netobserver/netobserver/record/jsonenc"
)

// Flusher is a record.Flusher.
var _ record.Flusher = (*Flusher)(nil)

// TypeName is the flusher's Type in an iLogtail pipeline config.
const TypeName = "flusher_kafka"

// Defaults; iLogtail's where the key is iLogtail's.
const (
	// DefaultRequiredACKs is sarama's default, which iLogtail kept: the leader's ack.
	DefaultRequiredACKs = 1
	// DefaultCompression is iLogtail's: none (kgo alone would pick snappy).
	DefaultCompression = "none"
	// DefaultClientID is iLogtail's client id.
	DefaultClientID = "LogtailPlugin"
	// DefaultTimeout is iLogtail's network timeout (dial, and the read/write allowance of a request).
	DefaultTimeout = 30 * time.Second
	// DefaultBrokerTimeout is iLogtail's time a broker may take to gather the required acks.
	DefaultBrokerTimeout = 10 * time.Second
	// DefaultMaxMessageBytes is Kafka's and sarama's default limit on a message.
	DefaultMaxMessageBytes = 1000000
	// DefaultQueueSize is the default bound of the in-memory queue, in records.
	DefaultQueueSize = 10000
	// DefaultCloseTimeout is how long Close waits by default for the queue to drain.
	DefaultCloseTimeout = 5 * time.Second
)

// Config is flusher_kafka's configuration. Start from DefaultConfig: in New a zero or empty field
// takes its default, except Brokers and Topic, which are required, and RequiredACKs, whose 0
// means no acks.
type Config struct {
	// Brokers are the bootstrap brokers, "host:port". Required.
	Brokers []string
	// Topic receives every record. Required.
	Topic string
	// RequiredACKs is iLogtail's key (flusher_kafka_v2): 1 the leader's ack (default), 0 none,
	// -1 all in-sync replicas. Kafka's other name for it, RequiredAcks, is the same key to a
	// case-insensitive decoder.
	RequiredACKs int
	// Compression of the produced batches: none (default), gzip, snappy, lz4 or zstd.
	Compression string
	// ClientID is the Kafka client id; default "LogtailPlugin" as in iLogtail.
	ClientID string
	// Timeout bounds dialing a broker and is the allowance on top of BrokerTimeout for a request's
	// round trip; default 30 s.
	Timeout time.Duration
	// BrokerTimeout is how long a broker may wait for the required acks; default 10 s.
	BrokerTimeout time.Duration
	// MaxMessageBytes is the largest record batch sent, and so the largest message; default
	// 1000000 (Kafka's message.max.bytes and sarama's default). A record whose value alone is
	// larger is not sent: it is counted in Stats.Failed and Flush returns an error.
	MaxMessageBytes int
	// QueueSize bounds the records held in memory, queued or in flight, not yet acknowledged;
	// default 10000. Records beyond it are dropped and counted.
	QueueSize int
	// CloseTimeout is how long Close waits for queued records to be delivered; default 5 s.
	CloseTimeout time.Duration
}

// DefaultConfig returns the defaults, with Brokers and Topic empty.
func DefaultConfig() Config {
	return Config{
		RequiredACKs:    DefaultRequiredACKs,
		Compression:     DefaultCompression,
		ClientID:        DefaultClientID,
		Timeout:         DefaultTimeout,
		BrokerTimeout:   DefaultBrokerTimeout,
		MaxMessageBytes: DefaultMaxMessageBytes,
		QueueSize:       DefaultQueueSize,
		CloseTimeout:    DefaultCloseTimeout,
	}
}

// Stats are a flusher's counters since it was created. Every record given to Flush ends up in
// exactly one of Produced, Dropped and Failed, or is still Queued.
type Stats struct {
	// Produced is the number of records the broker acknowledged (with RequiredACKs 0: written to
	// the connection).
	Produced uint64
	// Dropped is the number of records not queued: the queue was full, or the flusher closed.
	Dropped uint64
	// Failed is the number of records that were not delivered: larger than MaxMessageBytes,
	// rejected by the broker, or still queued when Close gave up.
	Failed uint64
	// Queued is the number of records in memory now, waiting for or in delivery.
	Queued int64
}

var (
	// ErrQueueFull is wrapped by Flush's error when records were dropped for a full queue.
	ErrQueueFull = errors.New("kafka flusher: queue full, records dropped")
	// ErrClosed is wrapped by Flush's error after Close.
	ErrClosed = errors.New("kafka flusher: closed")
	// ErrTooLarge is wrapped by Flush's error when records were larger than MaxMessageBytes.
	ErrTooLarge = errors.New("kafka flusher: records too large")
	// ErrUndelivered is wrapped by Close's error when queued records could not be delivered.
	ErrUndelivered = errors.New("kafka flusher: records not delivered")
)

// maxMessageBytesLimit is the largest MaxMessageBytes: kgo's limit on a request it writes.
const maxMessageBytesLimit = 100 << 20

// queueSlack is how far kgo's own buffer limit sits above QueueSize. The flusher admits records
// against its own counter, which a promise decrements just before kgo decrements its own; the
// slack keeps kgo from refusing a record in that instant. One record would do (kgo finishes
// promises one at a time); a few more cost nothing.
const queueSlack = 16

// promiseWait bounds how long Close waits, after closing the client, for the promises of the
// records the client failed; they normally all run within microseconds.
const promiseWait = 2 * time.Second

// Flusher is flusher_kafka. It is safe for concurrent use.
type Flusher struct {
	maxMessage   int
	queueSize    int64
	closeTimeout time.Duration
	cl           *kgo.Client

	// mu is held shared by Flush while it hands records to the client and exclusively by Close,
	// so no record is handed over after the client starts closing.
	mu     sync.RWMutex
	closed bool

	pool sync.Pool // *kgo.Record with its Value buffer, reused after the promise

	queued                    atomic.Int64
	produced, dropped, failed atomic.Uint64
	promiseFn                 func(*kgo.Record, error) // f.promise, bound once
	lastErrMu                 sync.Mutex
	lastErr                   error
}

// New validates cfg and creates the client; it does not wait for a broker, so it succeeds while
// the brokers are down. extra options are appended to the client's and may override any of the
// flusher's (for tests and special needs; the defaults are meant to be right).
func New(_ record.Context, cfg Config, extra ...kgo.Opt) (*Flusher, error) {
	opts, err := clientOpts(cfg)
	if err != nil {
		return nil, err
	}
	f := &Flusher{
		maxMessage:   cfg.MaxMessageBytes,
		queueSize:    int64(cfg.QueueSize),
		closeTimeout: cfg.CloseTimeout,
	}
	if f.queueSize == 0 {
		f.queueSize = DefaultQueueSize
	}
	if f.closeTimeout == 0 {
		f.closeTimeout = DefaultCloseTimeout
	}
	if f.maxMessage == 0 {
		f.maxMessage = DefaultMaxMessageBytes
	}
	f.promiseFn = f.promise
	opts = append(opts, kgo.MaxBufferedRecords(int(f.queueSize)+queueSlack))
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TypeName, err)
	}
	f.cl = cl
	return f, nil
}

// clientOpts validates cfg and translates it to kgo options; each error names the key.
func clientOpts(cfg Config) ([]kgo.Opt, error) {
	var brokers []string
	for _, b := range cfg.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%s: Brokers is required", TypeName)
	}
	if cfg.Topic == "" {
		return nil, fmt.Errorf("%s: Topic is required", TypeName)
	}
	if cfg.QueueSize < 0 {
		return nil, fmt.Errorf("%s: QueueSize must not be negative, got %d", TypeName, cfg.QueueSize)
	}
	if cfg.MaxMessageBytes < 0 || cfg.MaxMessageBytes > maxMessageBytesLimit {
		return nil, fmt.Errorf("%s: MaxMessageBytes must be between 0 (default) and %d, got %d", TypeName, maxMessageBytesLimit, cfg.MaxMessageBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"Timeout", cfg.Timeout}, {"BrokerTimeout", cfg.BrokerTimeout}, {"CloseTimeout", cfg.CloseTimeout}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s: %s must not be negative, got %v", TypeName, d.key, d.v)
		}
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	brokerTimeout := cfg.BrokerTimeout
	if brokerTimeout == 0 {
		brokerTimeout = DefaultBrokerTimeout
	}
	maxMessageBytes := cfg.MaxMessageBytes
	if maxMessageBytes == 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ClientID(clientID),
		kgo.DialTimeout(timeout),
		kgo.RequestTimeoutOverhead(timeout),
		kgo.ProduceRequestTimeout(brokerTimeout),
		kgo.ProducerBatchMaxBytes(int32(maxMessageBytes)),
		// Keep records through any outage: no retry limit, no delivery timeout (kgo's defaults,
		// stated so a kgo default change cannot silently start failing records). The queue
		// bound is what limits memory.
		kgo.RecordRetries(math.MaxInt),
		kgo.RecordDeliveryTimeout(0),
		// A topic that does not exist yet should not fail records after four metadata rounds:
		// it may be auto-created or created by an operator during an outage.
		kgo.UnknownTopicRetries(-1),
		kgo.MaxVersions(produceByName()),
	}
	switch cfg.RequiredACKs {
	case -1:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case 0:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("%s: RequiredACKs must be -1, 0 or 1, got %d", TypeName, cfg.RequiredACKs)
	}
	compression := strings.ToLower(cfg.Compression)
	if compression == "" {
		compression = DefaultCompression
	}
	var codec kgo.CompressionCodec
	switch compression {
	case "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("%s: Compression must be none, gzip, snappy, lz4 or zstd, got %q", TypeName, cfg.Compression)
	}
	return append(opts, kgo.ProducerBatchCompression(codec)), nil
}

// produceByName returns kgo's stable request versions with Produce capped at v12. Produce v13
// (Kafka 4.1) names topics by ID, and franz-go v1.20 keeps a partition's topic ID when a metadata
// refresh shows the same partitions: a topic deleted and recreated under the same name during an
// outage (or a broker that came back with fresh storage) then answers UNKNOWN_TOPIC_ID to every
// retry and the queue never drains. By name, the recreated topic is simply written to. Every Kafka
// version that speaks v13 also speaks v12.
func produceByName() *kversion.Versions {
	v := kversion.Stable()
	const produceKey, byNameMax = 0, 12
	if max, ok := v.LookupMaxKeyVersion(produceKey); ok && max > byNameMax {
		v.SetMaxKeyVersion(produceKey, byNameMax)
	}
	return v
}

// Flush queues one message per record and returns at once. Records that do not fit in the queue
// are dropped and counted; the error then wraps ErrQueueFull and gives the count.
func (f *Flusher) Flush(records []record.Record) error {
	if len(records) == 0 {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		f.dropped.Add(uint64(len(records)))
		return fmt.Errorf("%w: %d records dropped", ErrClosed, len(records))
	}
	dropped, tooLarge := 0, 0
	for i := range records {
		// Admission is decided here, synchronously, so Dropped is exact when Flush returns.
		if f.queued.Add(1) > f.queueSize {
			f.queued.Add(-1)
			dropped++
			continue
		}
		kr := f.getRecord()
		kr.Value = jsonenc.AppendLog(kr.Value, records[i])
		if len(kr.Value) > f.maxMessage {
			// kgo would fail it too, later; saying so now names the cause.
			f.queued.Add(-1)
			tooLarge++
			f.recycle(kr)
			continue
		}
		f.cl.TryProduce(context.Background(), kr, f.promiseFn)
	}
	var errs []error
	if dropped > 0 {
		f.dropped.Add(uint64(dropped))
		errs = append(errs, fmt.Errorf("%w: %d of %d records dropped (queue holds %d)", ErrQueueFull, dropped, len(records), f.queueSize))
	}
	if tooLarge > 0 {
		f.failed.Add(uint64(tooLarge))
		errs = append(errs, fmt.Errorf("%w: %d of %d records larger than MaxMessageBytes (%d) not sent", ErrTooLarge, tooLarge, len(records), f.maxMessage))
	}
	return errors.Join(errs...)
}

func (f *Flusher) getRecord() *kgo.Record {
	if r, ok := f.pool.Get().(*kgo.Record); ok {
		return r
	}
	return &kgo.Record{}
}

// promise is kgo's callback for every record handed to TryProduce; kgo calls it serially and no
// longer touches the record afterwards, so the record and its buffer are recycled.
func (f *Flusher) promise(r *kgo.Record, err error) {
	switch {
	case err == nil:
		f.produced.Add(1)
	case errors.Is(err, kgo.ErrMaxBuffered):
		// Only possible in the instant described at queueSlack; still a drop, not a failure.
		f.dropped.Add(1)
	default:
		f.failed.Add(1)
		f.lastErrMu.Lock()
		f.lastErr = err
		f.lastErrMu.Unlock()
	}
	f.queued.Add(-1)
	f.recycle(r)
}

// recycle puts a record and its value buffer back for the next Flush.
func (f *Flusher) recycle(r *kgo.Record) {
	value := r.Value[:0]
	if cap(value) > 64<<10 {
		value = nil // do not keep an unusually large buffer around
	}
	*r = kgo.Record{Value: value}
	f.pool.Put(r)
}

// Stats returns the counters.
func (f *Flusher) Stats() Stats {
	return Stats{
		Produced: f.produced.Load(),
		Dropped:  f.dropped.Load(),
		Failed:   f.failed.Load(),
		Queued:   f.queued.Load(),
	}
}

// LastError returns the most recent delivery error, or nil.
func (f *Flusher) LastError() error {
	f.lastErrMu.Lock()
	defer f.lastErrMu.Unlock()
	return f.lastErr
}

// Close waits up to CloseTimeout for the queue to be delivered, then closes the client and its
// connections and goroutines. Records still queued then are failed and counted in Stats.Failed;
// the error wraps ErrUndelivered and gives their number. Later Flushes drop their records.
func (f *Flusher) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), f.closeTimeout)
	flushErr := f.cl.Flush(ctx)
	cancel()
	left := f.queued.Load()
	// Close fails whatever is still buffered with kgo.ErrClientClosed; the promises run on
	// kgo's goroutine right after, so wait for them (briefly) to make the counters final.
	f.cl.Close()
	for deadline := time.Now().Add(promiseWait); f.queued.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if flushErr != nil || left > 0 {
		return fmt.Errorf("%w: %d records still queued after %v (%v)", ErrUndelivered, left, f.closeTimeout, flushErr)
	}
	return nil
}
