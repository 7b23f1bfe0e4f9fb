package config

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FlusherType is one flusher type a pipeline file may name. Each flusher's package owns its
// schema: it defines its FlusherType, and export/flushers registers them all (RegisterFlushers),
// so that this package reads the input's keys and leaves the flushers' to them.
type FlusherType struct {
	// Name is the flusher's Type in a pipeline file, e.g. "flusher_stdout".
	Name string
	// Decode reads the flusher's keys from its detail; the errors and warnings it returns
	// through Value name the key and its line.
	Decode func(detail Value) (FlusherConfig, error)
	// Single, when set, allows one flusher of this type per pipeline; it says why.
	Single string
	// Refused, when set, makes the type known but refused: it says why and what to use instead.
	Refused string
}

// FlusherConfig is one flusher's configuration as its type decoded it. The binary builds the
// flusher from it (export.Config).
type FlusherConfig interface {
	// File is the file the flusher writes, cleaned; "" when it writes none. Two flushers of a
	// pipeline may not write one file: their lines would interleave and each would rotate the
	// other's file.
	File() string
}

// Flusher is one configured output.
type Flusher struct {
	// Type is the FlusherType's Name.
	Type string
	// Config is what the type decoded.
	Config FlusherConfig
}

var (
	flusherTypesMu sync.RWMutex
	flusherTypes   []FlusherType
)

// RegisterFlushers makes flusher types known to Load and Parse, in the order error messages list
// them. It panics on a name registered twice: that is a programming error.
func RegisterFlushers(types ...FlusherType) {
	flusherTypesMu.Lock()
	defer flusherTypesMu.Unlock()
	for _, t := range types {
		for _, u := range flusherTypes {
			if strings.EqualFold(t.Name, u.Name) {
				panic("config: flusher type " + t.Name + " registered twice")
			}
		}
		flusherTypes = append(flusherTypes, t)
	}
}

// lookupFlusher returns the registered type named name, and the list of the types not refused,
// for messages.
func lookupFlusher(name string) (t FlusherType, ok bool, list string) {
	flusherTypesMu.RLock()
	defer flusherTypesMu.RUnlock()
	var names []string
	for _, u := range flusherTypes {
		if u.Name == name {
			t, ok = u, true
		}
		if u.Refused == "" {
			names = append(names, u.Name)
		}
	}
	if len(names) == 0 {
		return t, ok, "no flushers (none registered: import export/flushers)"
	}
	return t, ok, strings.Join(names, ", ")
}

// Value is one value of a pipeline file as a flusher's Decode reads it: where it is (its key
// path and line) and how to read it, with the exact errors and warnings Load reports.
type Value struct {
	d    *decoder
	v    *value
	path string
}

// Field is one key a flusher accepts and what to do with its value.
type Field struct {
	Name string
	Set  func(Value) error
}

// Path is the value's key path, e.g. "flushers[0].Topic".
func (v Value) Path() string { return v.path }

// Fields walks the mapping v in file order, handing each key to its field. Flusher keys are
// matched case-insensitively, as iLogtail's Go plugin runner decoded them (encoding/json); a key
// given twice in two cases is an error. Keys in unsupported are iLogtail keys netobserver does
// not implement: each is warned with its reason. Any other key is warned as unknown, with a
// suggestion when it is a typo away from a field. The plugin's Type key is skipped.
func (v Value) Fields(fields []Field, unsupported map[string]string) error {
	fs := make([]field, len(fields))
	for i, f := range fields {
		f := f
		fs[i] = field{name: f.Name, set: func(x *value, path string) error { return f.Set(Value{v.d, x, path}) }}
	}
	return v.d.object(v.v, v.path, fs, true, unsupported, "Type")
}

// Bool reads a bool.
func (v Value) Bool() (bool, error) { return v.d.boolean(v.v, v.path) }

// Int reads an int.
func (v Value) Int() (int, error) { return v.d.integer(v.v, v.path) }

// Str reads a string.
func (v Value) Str() (string, error) { return v.d.str(v.v, v.path) }

// Positive reads an int that must be > 0; what names the unit in the error ("number of bytes").
func (v Value) Positive(what string) (int, error) { return v.d.positive(v.v, v.path, what) }

// NonNegative reads an int that must be >= 0.
func (v Value) NonNegative() (int, error) { return v.d.nonNegative(v.v, v.path) }

// List returns the items of a list; null is an empty list.
func (v Value) List() ([]Value, error) {
	items, err := v.d.list(v.v, v.path)
	if err != nil {
		return nil, err
	}
	out := make([]Value, len(items))
	for i, item := range items {
		out[i] = Value{v.d, item, index(v.path, i)}
	}
	return out, nil
}

// Duration reads a positive duration: an int of seconds (at most maxSeconds) or a Go duration
// string. tooMany explains a number above maxSeconds.
func (v Value) Duration(maxSeconds int, tooMany string) (time.Duration, error) {
	if v.v.kind == kindString {
		t, err := time.ParseDuration(v.v.text)
		if err != nil || t <= 0 {
			return 0, v.Errorf("%q is not a positive duration (such as \"30s\" or \"1m\")", v.v.text)
		}
		return t, nil
	}
	if v.v.kind != kindInt && v.v.kind != kindFloat {
		return 0, v.d.typeError(v.v, v.path, "an int of seconds or a duration string")
	}
	n, err := v.Positive("number of seconds")
	if err != nil {
		return 0, err
	}
	if n > maxSeconds {
		return 0, v.Errorf("%d seconds is %s", n, tooMany)
	}
	return time.Duration(n) * time.Second, nil
}

// Key is the key of the mapping v for messages about it: its path, at v's line.
func (v Value) Key(key string) Value { return Value{v.d, v.v, join(v.path, key)} }

// Errorf is an error about v: "file: path: message".
func (v Value) Errorf(format string, args ...any) error {
	return v.d.errorf(v.v, v.path, format, args...)
}

// Warnf warns about v: something it asks for is ignored.
func (v Value) Warnf(format string, args ...any) {
	line := 0
	if v.v != nil {
		line = v.v.line
	}
	v.d.warnf(line, v.path, format, args...)
}

// Missing is the error for a required key absent from the mapping v.
func (v Value) Missing(key, why string) error { return v.d.missing(v.v, v.path, key, why) }

// SetBool and SetString are Field setters for plain keys.
func SetBool(dst *bool) func(Value) error {
	return func(v Value) (err error) {
		*dst, err = v.Bool()
		return err
	}
}

func SetString(dst *string) func(Value) error {
	return func(v Value) (err error) {
		*dst, err = v.Str()
		return err
	}
}

// SetSizeOrDefault reads a count that is >= 0, 0 meaning def (iLogtail's "<= 0 means default",
// without accepting negatives).
func SetSizeOrDefault(dst *int, def int) func(Value) error {
	return func(v Value) error {
		n, err := v.NonNegative()
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

// ValidPort reports whether port is a TCP port number one can connect to or listen on.
func ValidPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// CleanFile is the File of a flusher writing path ("" for none).
func CleanFile(path string) string {
	if path == "" {
		return ""
	}
	return filepath.Clean(path)
}

// flusher decodes one flusher entry.
func (d *decoder) flusher(v *value, path string) (*Flusher, error) {
	_, _, list := lookupFlusher("")
	typ, typV, detail, detailPath, err := d.plugin(v, path, "one of "+list)
	if err != nil {
		return nil, err
	}
	t, ok, list := lookupFlusher(typ)
	switch {
	case !ok:
		return nil, d.errorf(typV, typePath(path, detailPath), "unknown flusher %q (netobserver has %s)", typ, list)
	case t.Refused != "":
		return nil, d.errorf(typV, typePath(path, detailPath), "%q is not supported; %s", typ, t.Refused)
	}
	cfg, err := t.Decode(Value{d, detail, detailPath})
	if err != nil {
		return nil, err
	}
	return &Flusher{Type: typ, Config: cfg}, nil
}

// conflicts refuses a flusher that cannot run beside those before it: a second one of a Single
// type, or a file another flusher already writes.
func (d *decoder) conflicts(before []Flusher, f *Flusher, v *value, path string) error {
	t, _, _ := lookupFlusher(f.Type)
	file := f.Config.File()
	for i, g := range before {
		switch {
		case t.Single != "" && f.Type == g.Type:
			return d.errorf(v, path, "a second %s (the first is flushers[%d]); %s", f.Type, i, t.Single)
		case file != "" && file == g.Config.File():
			return d.errorf(v, path, "writes %q, which flushers[%d] writes too", file, i)
		}
	}
	return nil
}

// Entry is one key and value of a mapping.
type Entry struct {
	Key   string
	Value Value
}

// Entries returns the keys and values of a mapping in file order; null is an empty mapping.
func (v Value) Entries() ([]Entry, error) {
	entries, err := v.d.mapping(v.v, v.path)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = Entry{e.key, Value{v.d, e.val, join(v.path, e.key)}}
	}
	return out, nil
}
