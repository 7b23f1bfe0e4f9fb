package config

import (
	"math"
	"regexp"
	"strings"
)

// field is one key an object accepts and what to do with its value.
type field struct {
	name string
	set  func(v *value, path string) error
}

// object walks the mapping v in file order, handing each key to its field. fold matches keys
// case-insensitively (flushers, decoded by iLogtail's Go side); otherwise names are exact (the
// observer, read by iLogtail's C++ side). Keys in unsupported are iLogtail keys netobserver does
// not implement: warned with the reason. Keys in skip are handled by the caller. Any other key is
// warned as unknown. A null v is an empty mapping.
func (d *decoder) object(v *value, path string, fields []field, fold bool, unsupported map[string]string, skip ...string) error {
	entries, err := d.mapping(v, path)
	if err != nil {
		return err
	}
	seen := make(map[string]entry, len(entries))
next:
	for _, e := range entries {
		kp := join(path, e.key)
		for _, s := range skip {
			if e.key == s {
				continue next
			}
		}
		for _, f := range fields {
			if e.key == f.name || (fold && strings.EqualFold(e.key, f.name)) {
				if prev, dup := seen[f.name]; dup {
					return d.errorf(e.val, kp, "%s appears twice (as %s on line %d and %s on line %d; flusher keys are case-insensitive)", f.name, prev.key, prev.line, e.key, e.line)
				}
				seen[f.name] = e
				if err := f.set(e.val, kp); err != nil {
					return err
				}
				continue next
			}
		}
		for name, why := range unsupported {
			if e.key == name || (fold && strings.EqualFold(e.key, name)) {
				d.warnf(e.line, kp, "not supported by netobserver (%s), ignored", why)
				continue next
			}
		}
		d.warnf(e.line, kp, "unknown key, ignored%s", suggest(e.key, fields, fold))
		continue
	}
	return nil
}

// get returns the value of key in the mapping v (exactly).
func (v *value) get(key string) (*value, bool) {
	if v == nil || v.kind != kindMap {
		return nil, false
	}
	for _, e := range v.entries {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

// mapping returns the entries of a mapping; null is an empty mapping.
func (d *decoder) mapping(v *value, path string) ([]entry, error) {
	switch v.kind {
	case kindNull:
		return nil, nil
	case kindMap:
		return v.entries, nil
	}
	return nil, d.typeError(v, path, "a mapping")
}

// list returns the items of a list; null is an empty list.
func (d *decoder) list(v *value, path string) ([]*value, error) {
	switch v.kind {
	case kindNull:
		return nil, nil
	case kindList:
		return v.items, nil
	}
	return nil, d.typeError(v, path, "a list")
}

// boolean reads a bool.
func (d *decoder) boolean(v *value, path string) (bool, error) {
	if v.kind != kindBool {
		return false, d.typeError(v, path, "a bool")
	}
	return v.b, nil
}

// integer reads an int (32-bit, as iLogtail's). A whole float such as 5.0 is an int, as
// jsoncpp's isInt() said.
func (d *decoder) integer(v *value, path string) (int, error) {
	switch {
	case v.kind == kindInt:
		return int(v.i), nil
	case v.kind == kindFloat && v.bigInt:
		return 0, d.errorf(v, path, "%s is outside the int range", v.text)
	case v.kind == kindFloat && v.f == math.Trunc(v.f) && v.f >= math.MinInt32 && v.f <= math.MaxInt32:
		return int(v.f), nil
	}
	return 0, d.typeError(v, path, "an int")
}

// str reads a string.
func (d *decoder) str(v *value, path string) (string, error) {
	if v.kind != kindString {
		return "", d.typeError(v, path, "a string")
	}
	return v.text, nil
}

// regex reads a string as an anchored regex; empty is nil.
func (d *decoder) regex(v *value, path string) (*regexp.Regexp, error) {
	s, err := d.str(v, path)
	if err != nil || s == "" {
		return nil, err
	}
	return d.compileFull(v, path, s)
}

// compileFull compiles expr to match whole texts only (boost::regex_match in iLogtail). The
// error, if any, is about expr as written, not our anchored form of it.
func (d *decoder) compileFull(v *value, path, expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		e := d.errorf(v, path, "%q is not a valid regex: %s", expr, strings.TrimPrefix(err.Error(), "error parsing regexp: ")).(*Error)
		e.Err = err
		return nil, e
	}
	return regexp.MustCompile(`^(?:` + expr + `)$`), nil
}

// suggest names the field an unknown key was probably meant to be: the same name in another case
// (when keys are case-sensitive), or a name a typo or two away.
func suggest(key string, fields []field, fold bool) string {
	if !fold {
		for _, f := range fields {
			if strings.EqualFold(key, f.name) {
				return "; did you mean " + f.name + "? (keys are case-sensitive, as in iLogtail)"
			}
		}
	}
	if len(key) < 4 {
		return ""
	}
	for _, f := range fields {
		if editDistance(strings.ToLower(key), strings.ToLower(f.name)) <= 2 {
			return "; did you mean " + f.name + "?"
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b (bytes; keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
