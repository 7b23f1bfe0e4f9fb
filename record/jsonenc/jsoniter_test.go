package jsonenc

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netobserver/netobserver/record"
)

// The differential tests below hold our JSON encoder to the encoders iLogtail wrote its records
// with, on random records over every escaping class. json-iterator v1.1.12 is iLogtail's own
// (its go.mod); it is a test dependency only.
//
//   - KeyValuePairs (flusher_stdout's default, EscapeJsoniter): iLogtail built each line with a
//     jsoniter.Stream of ConfigDefault — WriteObjectStart, WriteObjectField(key), WriteString(value),
//     a raw ',', then "__time__" (plugins/flusher/stdout/flusher_stdout.go). ilogtailKeyValues does
//     exactly that. Expected: the same bytes, always.
//   - The Log format (flusher_stdout with KeyValuePairs false, flusher_kafka): iLogtail called
//     encoding/json.Marshal on a protocol.Log, built with Go 1.18.
//     jsoniter.ConfigCompatibleWithStandardLibrary reproduces that Go 1.18 output; today's
//     encoding/json does not (see TestEncodingJSONHasChangedSinceILogtail). Expected: the same
//     bytes, always.
//   - EscapeStrict (flusher_jsonl, no iLogtail original): ConfigCompatibleWithStandardLibrary's
//     escaping except that `<`, `>` and `&` stay as they are. That is the one stated difference.
//
// Which flusher uses which escaping is pinned by the flushers' golden tests.

// ilogtailKeyValues is iLogtail's flusher_stdout KeyValuePairs line, as its Flush built it: a new
// Stream per record.
func ilogtailKeyValues(r record.Record) []byte {
	return writeKeyValues(jsoniter.NewStream(jsoniter.ConfigDefault, nil, 128), r)
}

// writeKeyValues is the body of iLogtail's Flush for one record.
func writeKeyValues(w *jsoniter.Stream, r record.Record) []byte {
	w.WriteObjectStart()
	for _, f := range r.Fields {
		w.WriteObjectField(f.Key)
		w.WriteString(f.Value)
		_, _ = w.Write([]byte{','})
	}
	w.WriteObjectField("__time__")
	w.WriteString(strconv.Itoa(int(r.Time)))
	w.WriteObjectEnd()
	return w.Buffer()
}

// ilogtailLog mirrors iLogtail's protocol.Log as encoding/json sees it (pkg/protocol/sls_logs.pb.go:
// the json tags; Values and Time_ns are omitempty and never set by the observer).
type ilogtailLog struct {
	Time     uint32                `json:"Time"`
	Contents []*ilogtailLogContent `json:"Contents,omitempty"`
	Values   []string              `json:"values,omitempty"`
	TimeNs   *uint32               `json:"Time_ns,omitempty"`
}

type ilogtailLogContent struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func ilogtailLogOf(r record.Record) *ilogtailLog {
	l := &ilogtailLog{Time: r.Time}
	for _, f := range r.Fields {
		l.Contents = append(l.Contents, &ilogtailLogContent{f.Key, f.Value})
	}
	return l
}

// escapeClasses are the pieces random strings are made of, one class per line: each is escaped
// differently by at least one of the encoders.
var escapeClasses = [][]string{
	{"a", "Z", "0", " ", "/", "'", "~", "key_", "remote_info"}, // plain ASCII
	{"\"", "\\"},       // quote, backslash
	{"\n", "\r", "\t"}, // short escapes
	{"\x00", "\x01", "\b", "\f", "\x0b", "\x1b", "\x1f"}, // other control bytes
	{"\x7f"},        // DEL: not a control byte for JSON
	{"<", ">", "&"}, // HTML
	{"é", "日本", "\U0001F600", "\u00a0", "\ufeff", "\ufffd"}, // valid UTF-8
	{"\u2028", "\u2029"}, // JavaScript line terminators
	{"\xff", "\xfe", "\x80", "\xbf", "\xc3", "\xe6\x97", "\xf0\x9f\x98"},             // lone and cut sequences
	{"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "\xe2\x80\xa8\x80"}, // overlong, surrogate, > U+10FFFF, cut U+2028
}

// randomString is empty, long (1000 to 17000 pieces, up to about 35 KB) or short, made of pieces
// of random classes.
func randomString(rnd *rand.Rand) string {
	n := rnd.IntN(16)
	switch rnd.IntN(20) {
	case 0:
		return ""
	case 1:
		n = 1000 + rnd.IntN(16000) // long: the encoders' buffers grow mid-string
	}
	var sb strings.Builder
	for range n {
		class := escapeClasses[rnd.IntN(len(escapeClasses))]
		sb.WriteString(class[rnd.IntN(len(class))])
	}
	return sb.String()
}

func randomRecord(rnd *rand.Rand) record.Record {
	r := record.Record{Time: rnd.Uint32()}
	for range rnd.IntN(9) {
		r.Add(randomString(rnd), randomString(rnd))
	}
	return r
}

const differentialRecords = 3000

func TestKeyValuesMatchJsoniter(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 1))
	invalid := 0
	var got []byte
	for range differentialRecords {
		r := randomRecord(rnd)
		got = AppendKeyValues(got[:0], r, EscapeJsoniter)
		require.Equal(t, string(ilogtailKeyValues(r)), string(got), "record %q", r.Fields)
		// Neither encoder touches invalid UTF-8, so neither line is always valid JSON: the same
		// bytes as iLogtail's are what a drop-in writes.
		if !utf8.Valid(got) {
			invalid++
		}
	}
	assert.NotZero(t, invalid, "the random records cover invalid UTF-8")
}

func TestLogMatchesJsoniterStandard(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 2))
	var got []byte
	for range differentialRecords {
		r := randomRecord(rnd)
		want, err := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(ilogtailLogOf(r))
		require.NoError(t, err)
		got = AppendLog(got[:0], r)
		require.Equal(t, string(want), string(got), "record %q", r.Fields)
		require.True(t, json.Valid(got), "%q", got)
	}
}

// The oracle of the Log format is json-iterator, not the encoding/json we build with: since Go
// 1.22 encoding/json writes \b and \f where iLogtail's Go 1.18 (and json-iterator) write \u0008
// and \u000c. Everything else of this string is written alike.
func TestEncodingJSONHasChangedSinceILogtail(t *testing.T) {
	r := record.Record{Time: 1}
	r.Add("k", "\b\f<\xff\u2028")
	std, err := json.Marshal(ilogtailLogOf(r))
	require.NoError(t, err)
	assert.Equal(t, `{"Time":1,"Contents":[{"Key":"k","Value":"\b\f\u003c\ufffd\u2028"}]}`, string(std))
	iter, err := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(ilogtailLogOf(r))
	require.NoError(t, err)
	want := `{"Time":1,"Contents":[{"Key":"k","Value":"\u0008\u000c\u003c\ufffd\u2028"}]}`
	assert.Equal(t, want, string(iter))
	assert.Equal(t, want, string(AppendLog(nil, r)))
}

// EscapeStrict is ConfigCompatibleWithStandardLibrary's escaping with `<`, `>` and `&` left as
// they are. Both escape each character (a UTF-8 sequence, or one invalid byte) on its own, so the
// expected output is json-iterator's escaping of each character in turn, the three kept raw.
func TestStrictMatchesJsoniterButHTML(t *testing.T) {
	escape := func(s string) string {
		b, err := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(s)
		require.NoError(t, err)
		return string(b[1 : len(b)-1])
	}
	rnd := rand.New(rand.NewPCG(13, 3))
	for range differentialRecords {
		s := randomString(rnd)
		var pieces strings.Builder
		want := []byte{'"'}
		for i := 0; i < len(s); {
			_, size := utf8.DecodeRuneInString(s[i:])
			c := s[i : i+size]
			pieces.WriteString(escape(c))
			if c == "<" || c == ">" || c == "&" {
				want = append(want, c...)
			} else {
				want = append(want, escape(c)...)
			}
			i += size
		}
		want = append(want, '"')
		require.Equal(t, escape(s), pieces.String(), "json-iterator escapes %q character by character", s)
		got := AppendString(nil, s, EscapeStrict)
		require.Equal(t, string(want), string(got), "%q", s)
		require.True(t, json.Valid(got), "%q", got)
	}
}

// benchRecords are the records the encoders write in the benchmarks: random ones over every
// escaping class, without the long values.
func benchRecords() []record.Record {
	rnd := rand.New(rand.NewPCG(13, 4))
	var recs []record.Record
	for len(recs) < 64 {
		if r := randomRecord(rnd); len(r.Fields) > 0 && recordBytes(r) < 1000 {
			recs = append(recs, r)
		}
	}
	return recs
}

func recordBytes(r record.Record) int {
	n := 0
	for _, f := range r.Fields {
		n += len(f.Key) + len(f.Value)
	}
	return n
}

// benchEncode calls encode for each record once per iteration and reports the time per record.
func benchEncode(b *testing.B, records int, encode func(i int)) {
	b.ReportAllocs()
	for b.Loop() {
		for i := range records {
			encode(i)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
}

// BenchmarkEncodeKeyValues writes the same records, KeyValuePairs format, with our encoder into a
// reused buffer (as the flusher does), with json-iterator as iLogtail's flusher_stdout did (a new
// Stream per record), and with one json-iterator Stream reused (its best case).
func BenchmarkEncodeKeyValues(b *testing.B) {
	recs := benchRecords()
	b.Run("netobserver", func(b *testing.B) {
		var buf []byte
		benchEncode(b, len(recs), func(i int) { buf = AppendKeyValues(buf[:0], recs[i], EscapeJsoniter) })
	})
	b.Run("jsoniter-ilogtail", func(b *testing.B) {
		benchEncode(b, len(recs), func(i int) { ilogtailKeyValues(recs[i]) })
	})
	b.Run("jsoniter-reused", func(b *testing.B) {
		w := jsoniter.NewStream(jsoniter.ConfigDefault, nil, 4096)
		benchEncode(b, len(recs), func(i int) {
			w.SetBuffer(w.Buffer()[:0])
			writeKeyValues(w, recs[i])
		})
	})
}

// BenchmarkEncodeLog is the Log format (KeyValuePairs false, flusher_kafka): our encoder into a
// reused buffer against json-iterator's standard-library configuration, which must build the
// protocol.Log first, as iLogtail's flushers had it.
func BenchmarkEncodeLog(b *testing.B) {
	recs := benchRecords()
	b.Run("netobserver", func(b *testing.B) {
		var buf []byte
		benchEncode(b, len(recs), func(i int) { buf = AppendLog(buf[:0], recs[i]) })
	})
	b.Run("jsoniter-standard", func(b *testing.B) {
		logs := make([]*ilogtailLog, len(recs))
		for i, r := range recs {
			logs[i] = ilogtailLogOf(r)
		}
		benchEncode(b, len(logs), func(i int) {
			if _, err := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(logs[i]); err != nil {
				b.Fatal(err)
			}
		})
	})
}
