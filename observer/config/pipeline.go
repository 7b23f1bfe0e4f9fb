package config

// unsupportedTop are iLogtail pipeline sections netobserver has no use for.
var unsupportedTop = map[string]string{
	"global":      "netobserver has no global settings",
	"aggregators": "records are aggregated by the observer itself",
	"extensions":  "no extensions",
}

// pipeline decodes the whole file.
func (d *decoder) pipeline(root *value) (*Pipeline, error) {
	if root.kind != kindMap && root.kind != kindNull {
		return nil, d.errorf(root, "", "the file holds %s where a mapping (enable, inputs, processors, flushers) is expected", root.kind.article())
	}
	p := &Pipeline{Enabled: true}
	var inputs, flushers *value
	err := d.object(root, "", []field{
		{"enable", func(v *value, path string) (err error) {
			p.Enabled, err = d.boolean(v, path)
			return err
		}},
		{"inputs", func(v *value, path string) error { inputs = v; return nil }},
		{"processors", func(v *value, path string) error { return d.processors(p, v, path) }},
		{"flushers", func(v *value, path string) error { flushers = v; return nil }},
	}, false, unsupportedTop)
	if err != nil {
		return nil, err
	}

	// inputs: exactly one, of our type. Checked before flushers so that a file for another
	// input reports that first.
	if inputs == nil {
		return nil, d.errorf(root, "inputs", "missing; netobserver needs exactly one %s input", InputType)
	}
	items, err := d.list(inputs, "inputs")
	if err != nil {
		return nil, err
	}
	switch len(items) {
	case 0:
		return nil, d.errorf(inputs, "inputs", "empty; netobserver needs exactly one %s input", InputType)
	case 1:
	default:
		return nil, d.errorf(items[1], "inputs", "%d inputs; netobserver runs exactly one %s input", len(items), InputType)
	}
	typ, typV, detail, detailPath, err := d.plugin(items[0], "inputs[0]", InputType)
	if err != nil {
		return nil, err
	}
	if typ != InputType {
		return nil, d.errorf(typV, typePath("inputs[0]", detailPath), "%q is not %s, the only input netobserver runs", typ, InputType)
	}
	in, err := d.input(detail, detailPath)
	if err != nil {
		return nil, err
	}
	p.Input = *in

	// flushers: at least one.
	_, _, flusherList := lookupFlusher("")
	if flushers == nil {
		return nil, d.errorf(root, "flushers", "missing; add at least one of %s", flusherList)
	}
	if items, err = d.list(flushers, "flushers"); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, d.errorf(flushers, "flushers", "empty; add at least one of %s", flusherList)
	}
	for i, item := range items {
		path := index("flushers", i)
		f, err := d.flusher(item, path)
		if err != nil {
			return nil, err
		}
		if err := d.conflicts(p.Flushers, f, item, path); err != nil {
			return nil, err
		}
		p.Flushers = append(p.Flushers, *f)
	}
	return p, nil
}

// processors decodes the processor list: processor_default only.
func (d *decoder) processors(p *Pipeline, v *value, path string) error {
	items, err := d.list(v, path)
	if err != nil {
		return err
	}
	for i, item := range items {
		ip := index(path, i)
		typ, typV, detail, detailPath, err := d.plugin(item, ip, ProcessorDefault)
		if err != nil {
			return err
		}
		if typ != ProcessorDefault {
			return d.errorf(typV, typePath(ip, detailPath), "unknown processor %q (netobserver has %s only)", typ, ProcessorDefault)
		}
		if err := d.object(detail, detailPath, nil, true, nil, "Type"); err != nil {
			return err
		}
		p.Processors = append(p.Processors, typ)
	}
	return nil
}

// plugin splits one plugin entry into its type and its detail, in either form: YAML's
// {Type: t, key: …} (the detail is the entry itself, Type skipped by the caller) or the converted
// {"type": t, "detail": {…}}. It returns the type's value (for error lines) and the detail's path;
// types lists what the type may be, for the error when it is missing.
func (d *decoder) plugin(v *value, path, types string) (typ string, typV, detail *value, detailPath string, err error) {
	if v.kind != kindMap {
		return "", nil, nil, "", d.typeError(v, path, "a mapping with a Type")
	}
	if t, ok := v.get("Type"); ok {
		typ, err = d.str(t, path+".Type")
		return typ, t, v, path, err
	}
	t, ok := v.get("type")
	if !ok {
		return "", nil, nil, "", d.errorf(v, path+".Type", "missing; expected %s", types)
	}
	if typ, err = d.str(t, path+".type"); err != nil {
		return "", nil, nil, "", err
	}
	for _, e := range v.entries {
		if e.key != "type" && e.key != "detail" {
			d.warnf(e.line, join(path, e.key), "unknown key, ignored (in the {type, detail} form every setting goes in detail)")
		}
	}
	detail, ok = v.get("detail")
	if !ok {
		detail = &value{kind: kindNull, line: v.line}
	}
	return typ, t, detail, path + ".detail", nil
}

// typePath is the path of a plugin's type key: Type in the YAML form, type in the converted one.
func typePath(pluginPath, detailPath string) string {
	if detailPath == pluginPath {
		return pluginPath + ".Type"
	}
	return pluginPath + ".type"
}

// positive reads an int that must be > 0.
func (d *decoder) positive(v *value, path, what string) (int, error) {
	n, err := d.integer(v, path)
	if err == nil && n <= 0 {
		err = d.errorf(v, path, "%d is not a positive %s", n, what)
	}
	return n, err
}

// nonNegative reads an int that must be >= 0.
func (d *decoder) nonNegative(v *value, path string) (int, error) {
	n, err := d.integer(v, path)
	if err == nil && n < 0 {
		err = d.errorf(v, path, "%d is negative", n)
	}
	return n, err
}

// setBool, setString: field setters for plain keys.
func (d *decoder) setBool(dst *bool) func(*value, string) error {
	return func(v *value, path string) (err error) {
		*dst, err = d.boolean(v, path)
		return err
	}
}

func (d *decoder) setString(dst *string) func(*value, string) error {
	return func(v *value, path string) (err error) {
		*dst, err = d.str(v, path)
		return err
	}
}

// missing is the error for an absent required key of the mapping at path.
func (d *decoder) missing(v *value, path, key, why string) error {
	return d.errorf(v, join(path, key), "missing; %s", why)
}
