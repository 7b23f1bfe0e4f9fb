package kafka

import (
	"net"
	"regexp"
	"strings"

	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// Type is flusher_kafka in pipeline files.
var Type = config.FlusherType{Name: TypeName, Decode: decode}

// TypeV2 is iLogtail's flusher_kafka_v2, refused by name: its converter protocols write other
// message formats.
var TypeV2 = config.FlusherType{Name: "flusher_kafka_v2",
	Refused: "use " + TypeName + " (netobserver writes flusher_kafka's message format, which dashboards built on iLogtail's observer expect)"}

var _ export.Config = (*Config)(nil)

// unsupported are keys of iLogtail's flusher_kafka and flusher_kafka_v2 that this flusher does
// not implement.
var unsupported = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"SASLUsername", "SASLPassword", "Authentication"} {
		m[k] = "no authentication yet; the brokers must accept unauthenticated clients"
	}
	for _, k := range []string{"PartitionerType", "HashKeys", "HashOnce"} {
		m[k] = "messages are spread over partitions by the client's default partitioner"
	}
	for _, k := range []string{"Version", "Metadata", "KeepAlive", "BrokerTimeout", "CompressionLevel",
		"BulkMaxSize", "BulkFlushFrequency", "MaxRetries", "Backoff", "ChanBufferSize", "Headers"} {
		m[k] = "the client's defaults are used"
	}
	for _, k := range []string{"TagFieldsRename", "ProtocolFieldsRename", "Protocol", "Encoding"} {
		m[k] = "the message format is flusher_kafka's {\"Time\",\"Contents\"}"
	}
	return m
}()

var (
	topicRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}
)

// maxTimeoutSeconds bounds an int Timeout: anything larger is most likely flusher_kafka_v2's
// nanoseconds.
const maxTimeoutSeconds = 24 * 60 * 60

// decode reads flusher_kafka's keys: iLogtail's names (RequiredAcks in any case, as the
// case-insensitive decoder of iLogtail read flusher_kafka_v2's RequiredACKs), the defaults of
// DefaultConfig.
func decode(detail config.Value) (config.FlusherConfig, error) {
	c := DefaultConfig()
	err := detail.Fields([]config.Field{
		{Name: "Brokers", Set: func(v config.Value) error {
			items, err := v.List()
			if err != nil {
				return err
			}
			for _, item := range items {
				b, err := item.Str()
				if err != nil {
					return err
				}
				if host, port, err := net.SplitHostPort(b); err != nil || host == "" || port == "" {
					return item.Errorf("%q is not host:port", b)
				} else if !config.ValidPort(port) {
					return item.Errorf("%q: port %s is not 1..65535", b, port)
				}
				c.Brokers = append(c.Brokers, b)
			}
			return nil
		}},
		{Name: "Topic", Set: func(v config.Value) error {
			t, err := v.Str()
			if err != nil {
				return err
			}
			switch {
			case strings.Contains(t, "%{"):
				return v.Errorf("%q: dynamic topics are not supported; name one topic", t)
			case t != "" && !topicRE.MatchString(t):
				return v.Errorf("%q is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", t)
			}
			c.Topic = t
			return nil
		}},
		{Name: "RequiredAcks", Set: func(v config.Value) (err error) {
			c.RequiredACKs, err = v.Int()
			if err == nil && (c.RequiredACKs < -1 || c.RequiredACKs > 1) {
				err = v.Errorf("%d is not -1 (all in-sync replicas), 0 (none) or 1 (the leader)", c.RequiredACKs)
			}
			return err
		}},
		{Name: "Compression", Set: func(v config.Value) error {
			s, err := v.Str()
			if err != nil {
				return err
			}
			for _, name := range compressions {
				if strings.EqualFold(s, name) {
					c.Compression = name
					return nil
				}
			}
			return v.Errorf("%q is not one of %s", s, strings.Join(compressions, ", "))
		}},
		{Name: "ClientID", Set: config.SetString(&c.ClientID)},
		{Name: "Timeout", Set: func(v config.Value) (err error) {
			c.Timeout, err = v.Duration(maxTimeoutSeconds,
				`more than a day; write a duration such as "30s" (iLogtail's flusher_kafka_v2 read a number as nanoseconds)`)
			return err
		}},
		{Name: "MaxMessageBytes", Set: func(v config.Value) (err error) {
			c.MaxMessageBytes, err = v.Positive("number of bytes")
			return err
		}},
		{Name: "QueueSize", Set: func(v config.Value) (err error) {
			c.QueueSize, err = v.Positive("number of messages")
			return err
		}},
	}, unsupported)
	if err != nil {
		return nil, err
	}
	if len(c.Brokers) == 0 {
		return nil, detail.Missing("Brokers", "flusher_kafka needs at least one broker (host:port)")
	}
	if c.Topic == "" {
		return nil, detail.Missing("Topic", "flusher_kafka needs a topic")
	}
	return &c, nil
}

// File is none.
func (c *Config) File() string { return "" }

// Open builds the flusher; it does not wait for a broker.
func (c *Config) Open(ctx record.Context, _ export.Env) (export.Output, error) {
	f, err := New(ctx, *c)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Totals implements export.Counted.
func (f *Flusher) Totals() export.Totals {
	s := f.Stats()
	return export.Totals{Written: s.Produced, Failed: s.Failed, Dropped: s.Dropped, Queued: uint64(max(s.Queued, 0))}
}
