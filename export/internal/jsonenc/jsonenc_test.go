package jsonenc

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netobserver/netobserver/record"
)

// TestAppendLogMatchesEncodingJSON checks AppendLog against encoding/json on random strings. Since
// Go 1.22 encoding/json writes \b and \f in short form where iLogtail's Go 1.18 wrote \u0008 and
// \u000c, those two bytes are left out of the alphabet; the golden tests cover them.
func TestAppendLogMatchesEncodingJSON(t *testing.T) {
	type content struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	type log struct {
		Time     uint32     `json:"Time"`
		Contents []*content `json:"Contents,omitempty"`
	}
	alphabet := []string{"a", "Z", " ", "\"", "\\", "/", "<", ">", "&", "\x00", "\x1f", "\n", "\r", "\t", "\x7f",
		"é", "日", "\U0001F600", "\u2028", "\u2029", "\xff", "\xc3", "\xe6\x97", "\xed\xa0\x80", "'"}
	rnd := rand.New(rand.NewPCG(1, 2))
	randStr := func() string {
		var sb strings.Builder
		for range rnd.IntN(12) {
			sb.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		return sb.String()
	}
	var buf []byte
	for range 2000 {
		r := record.Record{Time: rnd.Uint32()}
		l := log{Time: r.Time}
		for range rnd.IntN(4) {
			k, v := randStr(), randStr()
			r.Add(k, v)
			l.Contents = append(l.Contents, &content{k, v})
		}
		want, err := json.Marshal(l)
		require.NoError(t, err)
		buf = AppendLog(buf[:0], r)
		require.Equal(t, string(want), string(buf), "%q", r.Fields)

		// EscapeStrict is encoding/json without HTML escaping: valid JSON that decodes to the same
		// text as encoding/json's output does.
		for _, f := range r.Fields {
			strict := AppendString(nil, f.Value, EscapeStrict)
			std, err := json.Marshal(f.Value)
			require.NoError(t, err)
			var a, b string
			require.NoError(t, json.Unmarshal(strict, &a), "%q", strict)
			require.NoError(t, json.Unmarshal(std, &b))
			require.Equal(t, b, a)
			assert.NotContains(t, string(strict), `\u003c`)
		}
	}
}
