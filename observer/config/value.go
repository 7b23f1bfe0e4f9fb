package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kind is the type a config value has after iLogtail's YAML→JSON conversion.
type kind int

const (
	kindNull kind = iota
	kindInt
	kindFloat
	kindBool
	kindString
	kindMap
	kindList
)

// article names a kind the way messages use it: "an int where a bool is expected".
func (k kind) article() string {
	switch k {
	case kindNull:
		return "no value (null)"
	case kindInt:
		return "an int"
	case kindFloat:
		return "a float"
	case kindBool:
		return "a bool"
	case kindString:
		return "a string"
	case kindMap:
		return "a mapping"
	default:
		return "a list"
	}
}

// value is one parsed config value. The tree is ours rather than yaml.Node so that typing is
// decided once, iLogtail's way, and duplicate keys and aliases are dealt with in one place.
type value struct {
	kind kind
	line int
	// text is a scalar's source text (a string's content).
	text string
	i    int64   // kindInt
	f    float64 // kindFloat
	b    bool    // kindBool
	// bigInt marks a plain integer outside int32: yaml-cpp's int conversion failed on it, so
	// iLogtail made it a float; it is reported as out of range rather than as a float.
	bigInt  bool
	entries []entry  // kindMap, in file order
	items   []*value // kindList
}

// entry is one key of a mapping.
type entry struct {
	key  string
	line int
	val  *value
}

// show renders v for a message: scalars as written (strings quoted), others by kind.
func (v *value) show() string {
	switch v.kind {
	case kindString:
		return strconv.Quote(v.text)
	case kindInt, kindFloat, kindBool:
		return v.text
	default:
		return v.kind.article()
	}
}

// typeError says v is not of the wanted kind: `1 is an int where a bool is expected`.
func (d *decoder) typeError(v *value, path, want string) error {
	switch v.kind {
	case kindInt, kindFloat, kindBool, kindString:
		hint := ""
		if v.kind != kindString && want == "a string" {
			hint = fmt.Sprintf(" (quote it: %q)", v.text)
		}
		return d.errorf(v, path, "%s is %s where %s is expected%s", v.show(), v.kind.article(), want, hint)
	default:
		return d.errorf(v, path, "%s where %s is expected", v.kind.article(), want)
	}
}

// decoder turns a parsed file into typed configuration, collecting warnings.
type decoder struct {
	file     string
	warnings []Warning
	// values counts the values convert built, aliases expanded: at most maxValues.
	values int
}

// Bounds on what one pipeline file may cost to read. A real one is a few KiB and a few hundred
// values; a YAML alias bomb (a few hundred bytes whose aliases expand to billions of values) or a
// huge file must be refused before it costs memory.
const (
	// MaxFileSize is the largest pipeline file read.
	MaxFileSize = 1 << 20
	// MaxValues bounds the values one file expands to, every alias expansion counted.
	MaxValues = 100_000
)

// parse reads YAML (JSON is YAML) into a value tree: exactly one document; an empty file is an
// empty mapping.
func (d *decoder) parse(data []byte) (*value, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: d.file, Msg: fmt.Sprintf("the file is larger than %d bytes, the most a pipeline file may be", MaxFileSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &value{kind: kindMap, line: 1}, nil
		}
		return nil, d.syntaxError(data, err)
	}
	// Further documents are an error unless empty (a trailing "---" is harmless).
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, d.syntaxError(data, err)
		}
		if len(next.Content) > 0 && next.Content[0].ShortTag() != "!!null" {
			return nil, &Error{File: d.file, Line: next.Line, Msg: fmt.Sprintf("a second YAML document starts at line %d; a pipeline file holds one", next.Line)}
		}
	}
	return d.convert(&doc, "", 0)
}

// syntaxError reports a YAML parse error with the line of the problem. yaml.v3 words the error
// well but, for parser errors, numbers the line where the enclosing block began (0-based), so
// the line is found again: for a JSON file, from encoding/json's offset; for YAML, as the first
// line whose prefix of the file fails the same way (prefixes of block YAML cut at line ends parse).
func (d *decoder) syntaxError(data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	if looksJSON(data) {
		var x any
		var se *json.SyntaxError
		if jerr := json.Unmarshal(data, &x); errors.As(jerr, &se) {
			line = 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			return &Error{File: d.file, Line: line, Msg: fmt.Sprintf("JSON syntax error: line %d: %s", line, se.Error()), Err: err}
		}
	} else {
		// Quadratic in the file's lines: bounded, as no real pipeline file is near the bound.
		lines := bytes.SplitAfter(data, []byte("\n"))
		for k := 1; k <= len(lines) && len(lines) <= maxSearchLines && len(data) <= maxSearchBytes; k++ {
			if perr := parseAll(bytes.Join(lines[:k], nil)); perr != nil && strings.HasSuffix(perr.Error(), msg) {
				line = k
				break
			}
		}
	}
	return &Error{File: d.file, Line: line, Msg: fmt.Sprintf("YAML syntax error: line %d: %s", line, strings.TrimSpace(msg)), Err: err}
}

// looksJSON reports whether data is meant as JSON: an object whose first key is quoted. (A
// YAML flow mapping, {inputs: …}, also starts with a brace; encoding/json would misreport it.)
func looksJSON(data []byte) bool {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	t = bytes.TrimSpace(t[1:])
	return len(t) > 0 && (t[0] == '"' || t[0] == '}')
}

// maxSearchLines bounds the search for a syntax error's line.
const (
	maxSearchLines = 2000
	maxSearchBytes = 64 << 10
)

// parseAll parses every document of data, for syntax only.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

var lineRE = regexp.MustCompile(`^line (\d+):`)

// maxAliasDepth bounds alias expansion: a config needs few, and a cycle must not hang us.
const maxAliasDepth = 64

// convert builds the value tree of n; path names n in errors.
func (d *decoder) convert(n *yaml.Node, path string, aliases int) (*value, error) {
	if d.values++; d.values > MaxValues {
		return nil, &Error{File: d.file, Line: n.Line, Msg: fmt.Sprintf("the file expands to more than %d values (YAML aliases?); a pipeline needs far fewer", MaxValues)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &value{kind: kindMap, line: n.Line}, nil
		}
		return d.convert(n.Content[0], path, aliases)
	case yaml.AliasNode:
		if aliases >= maxAliasDepth || n.Alias == nil {
			return nil, &Error{File: d.file, Path: path, Line: n.Line, Msg: "YAML aliases nest too deeply"}
		}
		v, err := d.convert(n.Alias, path, aliases+1)
		if err != nil {
			return nil, err
		}
		c := *v
		c.line = n.Line
		return &c, nil
	case yaml.ScalarNode:
		return scalar(n), nil
	case yaml.SequenceNode:
		v := &value{kind: kindList, line: n.Line, items: make([]*value, 0, len(n.Content))}
		for i, c := range n.Content {
			item, err := d.convert(c, index(path, i), aliases)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		return v, nil
	case yaml.MappingNode:
		v := &value{kind: kindMap, line: n.Line}
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, c := n.Content[i], n.Content[i+1]
			for k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, &Error{File: d.file, Path: path, Line: k.Line, Msg: "a mapping key must be a plain scalar"}
			}
			kp := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				return nil, &Error{File: d.file, Path: kp, Line: k.Line, Msg: fmt.Sprintf("appears twice (lines %d and %d)", first, k.Line)}
			}
			seen[k.Value] = k.Line
			val, err := d.convert(c, kp, aliases)
			if err != nil {
				return nil, err
			}
			v.entries = append(v.entries, entry{key: k.Value, line: k.Line, val: val})
		}
		return v, nil
	}
	return nil, &Error{File: d.file, Path: path, Line: n.Line, Msg: "unsupported YAML node"}
}

// scalar types a scalar as iLogtail's ParseScalar did: quoted (or block) → string; else int,
// then float, then bool, then string. A plain null (~, null, empty) is null.
func scalar(n *yaml.Node) *value {
	v := &value{kind: kindString, line: n.Line, text: n.Value}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return v
	}
	if n.Style&yaml.TaggedStyle != 0 && n.ShortTag() == "!!str" {
		return v
	}
	if n.ShortTag() == "!!null" {
		v.kind = kindNull
		return v
	}
	classify(v)
	return v
}

var (
	decimalRE = regexp.MustCompile(`^[-+]?[0-9]+$`)
	floatRE   = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	infRE     = regexp.MustCompile(`^[-+]?\.(inf|Inf|INF)$`)
	nanRE     = regexp.MustCompile(`^\.(nan|NaN|NAN)$`)
)

// classify sets v's kind from its plain text, after yaml-cpp's convert<int>, convert<double>
// and convert<bool>.
func classify(v *value) {
	t := v.text
	// int: decimal (int32, as yaml-cpp decoded into int), or 0x hex / 0o octal.
	var (
		i   int64
		err error = strconv.ErrSyntax
	)
	switch {
	case decimalRE.MatchString(t):
		i, err = strconv.ParseInt(t, 10, 64)
	case len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X"):
		i, err = strconv.ParseInt(t[2:], 16, 64)
	case len(t) > 2 && t[:2] == "0o":
		i, err = strconv.ParseInt(t[2:], 8, 64)
	}
	if err == nil {
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			v.kind, v.i = kindInt, i
			return
		}
		v.kind, v.f, v.bigInt = kindFloat, float64(i), true
		return
	}
	if decimalRE.MatchString(t) { // too big even for int64
		v.kind, v.bigInt = kindFloat, true
		v.f, _ = strconv.ParseFloat(t, 64)
		return
	}
	switch {
	case floatRE.MatchString(t):
		v.kind = kindFloat
		v.f, _ = strconv.ParseFloat(t, 64)
		return
	case infRE.MatchString(t):
		v.kind, v.f = kindFloat, math.Inf(1)
		if t[0] == '-' {
			v.f = math.Inf(-1)
		}
		return
	case nanRE.MatchString(t):
		v.kind, v.f = kindFloat, math.NaN()
		return
	}
	if b, ok := yamlCppBool(t); ok {
		v.kind, v.b = kindBool, b
	}
}

// yamlCppBool reads the spellings yaml-cpp's convert<bool> accepts: y/yes/true/on and
// n/no/false/off, each in lower case, UPPER case or Capitalised.
func yamlCppBool(t string) (bool, bool) {
	if t == "" {
		return false, false
	}
	if t != strings.ToLower(t) && t != strings.ToUpper(t) && t != strings.ToUpper(t[:1])+strings.ToLower(t[1:]) {
		return false, false
	}
	switch strings.ToLower(t) {
	case "y", "yes", "true", "on":
		return true, true
	case "n", "no", "false", "off":
		return false, true
	}
	return false, false
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// join appends key to path: a.b, or a["odd.key"] for keys that are not identifiers.
func join(path, key string) string {
	if !identRE.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
