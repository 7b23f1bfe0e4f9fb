package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/netobserver/netobserver/export/prometheus"
)

// stdout decodes flusher_stdout.
func (d *decoder) stdout(v *value, path string) (*StdoutConfig, error) {
	c := &StdoutConfig{KeyValuePairs: true, MaxSize: DefaultStdoutMaxSize, MaxRolls: DefaultStdoutMaxRolls}
	var fileV *value
	err := d.object(v, path, []field{
		{"OnlyStdout", d.setBool(&c.OnlyStdout)},
		{"FileName", func(v *value, path string) (err error) {
			fileV = v
			c.FileName, err = d.str(v, path)
			return err
		}},
		{"MaxSize", d.sizeOrDefault(&c.MaxSize, DefaultStdoutMaxSize)},
		{"MaxRolls", d.sizeOrDefault(&c.MaxRolls, DefaultStdoutMaxRolls)},
		{"KeyValuePairs", d.setBool(&c.KeyValuePairs)},
		{"Tags", d.setBool(&c.Tags)},
	}, true, nil, "Type")
	if err != nil {
		return nil, err
	}
	if c.OnlyStdout && c.FileName != "" {
		d.warnf(fileV.line, path+".FileName", "ignored: OnlyStdout is true (as in iLogtail)")
	}
	return c, nil
}

// sizeOrDefault reads a count that is >= 0, 0 meaning def (iLogtail's "<= 0 means default",
// without accepting negatives).
func (d *decoder) sizeOrDefault(dst *int, def int) func(*value, string) error {
	return func(v *value, path string) error {
		n, err := d.nonNegative(v, path)
		if err != nil {
			return err
		}
		if n == 0 {
			n = def
		}
		*dst = n
		return nil
	}
}

// unsupportedKafka are keys of iLogtail's flusher_kafka and flusher_kafka_v2 that netobserver's
// flusher_kafka does not implement.
var unsupportedKafka = func() map[string]string {
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

// kafka decodes flusher_kafka.
func (d *decoder) kafka(v *value, path string) (*KafkaConfig, error) {
	c := &KafkaConfig{
		RequiredAcks:    DefaultKafkaRequiredAcks,
		Compression:     DefaultKafkaCompression,
		ClientID:        DefaultKafkaClientID,
		Timeout:         DefaultKafkaTimeout,
		MaxMessageBytes: DefaultKafkaMaxMessageBytes,
		QueueSize:       DefaultKafkaQueueSize,
	}
	err := d.object(v, path, []field{
		{"Brokers", func(v *value, path string) error {
			items, err := d.list(v, path)
			if err != nil {
				return err
			}
			for i, item := range items {
				ip := index(path, i)
				b, err := d.str(item, ip)
				if err != nil {
					return err
				}
				if host, port, err := net.SplitHostPort(b); err != nil || host == "" || port == "" {
					return d.errorf(item, ip, "%q is not host:port", b)
				} else if !validPort(port) {
					return d.errorf(item, ip, "%q: port %s is not 1..65535", b, port)
				}
				c.Brokers = append(c.Brokers, b)
			}
			return nil
		}},
		{"Topic", func(v *value, path string) error {
			t, err := d.str(v, path)
			if err != nil {
				return err
			}
			switch {
			case strings.Contains(t, "%{"):
				return d.errorf(v, path, "%q: dynamic topics are not supported; name one topic", t)
			case t != "" && !topicRE.MatchString(t):
				return d.errorf(v, path, "%q is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", t)
			}
			c.Topic = t
			return nil
		}},
		{"RequiredAcks", func(v *value, path string) (err error) {
			c.RequiredAcks, err = d.integer(v, path)
			if err == nil && (c.RequiredAcks < -1 || c.RequiredAcks > 1) {
				err = d.errorf(v, path, "%d is not -1 (all in-sync replicas), 0 (none) or 1 (the leader)", c.RequiredAcks)
			}
			return err
		}},
		{"Compression", func(v *value, path string) error {
			s, err := d.str(v, path)
			if err != nil {
				return err
			}
			for _, name := range compressions {
				if strings.EqualFold(s, name) {
					c.Compression = name
					return nil
				}
			}
			return d.errorf(v, path, "%q is not one of %s", s, strings.Join(compressions, ", "))
		}},
		{"ClientID", d.setString(&c.ClientID)},
		{"Timeout", func(v *value, path string) (err error) {
			c.Timeout, err = d.timeout(v, path)
			return err
		}},
		{"MaxMessageBytes", func(v *value, path string) (err error) {
			c.MaxMessageBytes, err = d.positive(v, path, "number of bytes")
			return err
		}},
		{"QueueSize", func(v *value, path string) (err error) {
			c.QueueSize, err = d.positive(v, path, "number of messages")
			return err
		}},
	}, true, unsupportedKafka, "Type")
	if err != nil {
		return nil, err
	}
	if len(c.Brokers) == 0 {
		return nil, d.missing(v, path, "Brokers", "flusher_kafka needs at least one broker (host:port)")
	}
	if c.Topic == "" {
		return nil, d.missing(v, path, "Topic", "flusher_kafka needs a topic")
	}
	return c, nil
}

// maxTimeoutSeconds bounds an int Timeout: anything larger is most likely flusher_kafka_v2's
// nanoseconds.
const maxTimeoutSeconds = 24 * 60 * 60

// timeout reads a positive duration: an int of seconds or a Go duration string.
func (d *decoder) timeout(v *value, path string) (time.Duration, error) {
	if v.kind == kindString {
		t, err := time.ParseDuration(v.text)
		if err != nil || t <= 0 {
			return 0, d.errorf(v, path, "%q is not a positive duration (such as \"30s\" or \"1m\")", v.text)
		}
		return t, nil
	}
	if v.kind != kindInt && v.kind != kindFloat {
		return 0, d.typeError(v, path, "an int of seconds or a duration string")
	}
	n, err := d.positive(v, path, "number of seconds")
	if err != nil {
		return 0, err
	}
	if n > maxTimeoutSeconds {
		return 0, d.errorf(v, path, "%d seconds is more than a day; write a duration such as \"30s\" (iLogtail's flusher_kafka_v2 read a number as nanoseconds)", n)
	}
	return time.Duration(n) * time.Second, nil
}

// validPort reports whether port is a TCP port number one can connect to or listen on.
func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// jsonl decodes flusher_jsonl.
func (d *decoder) jsonl(v *value, path string) (*JSONLConfig, error) {
	c := &JSONLConfig{MaxRolls: DefaultJSONLMaxRolls}
	err := d.object(v, path, []field{
		{"Path", d.setString(&c.Path)},
		{"MaxSize", func(v *value, path string) (err error) {
			c.MaxSize, err = d.nonNegative(v, path)
			return err
		}},
		{"MaxRolls", d.sizeOrDefault(&c.MaxRolls, DefaultJSONLMaxRolls)},
	}, true, nil, "Type")
	if err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, d.missing(v, path, "Path", "flusher_jsonl needs the file to write")
	}
	return c, nil
}

// prometheus decodes flusher_prometheus_exporter.
func (d *decoder) prometheus(v *value, path string) (*PrometheusConfig, error) {
	c := &PrometheusConfig{Listen: DefaultPrometheusListen, Path: DefaultPrometheusPath}
	var listenV, pathV *value
	err := d.object(v, path, []field{
		{"Listen", func(v *value, path string) (err error) {
			listenV = v
			c.Listen, err = d.str(v, path)
			return err
		}},
		{"Path", func(v *value, path string) (err error) {
			pathV = v
			c.Path, err = d.str(v, path)
			return err
		}},
		{"WebConfigFile", func(v *value, path string) (err error) {
			if c.WebConfigFile, err = d.str(v, path); err != nil {
				return err
			}
			if err := prometheus.CheckWebConfig(c.WebConfigFile); err != nil {
				return d.errorf(v, path, "%q is not a usable web config: %v", c.WebConfigFile, err)
			}
			return nil
		}},
	}, true, nil, "Type")
	if err != nil {
		return nil, err
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return nil, d.errorf(listenV, path+".Listen", "%q is not host:port (e.g. \":9464\" or \"127.0.0.1:9464\")", c.Listen)
	} else if !validPort(port) {
		return nil, d.errorf(listenV, path+".Listen", "%q: port %s is not 1..65535", c.Listen, port)
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, d.errorf(pathV, path+".Path", "%q must start with /", c.Path)
	}
	return c, nil
}
