package stdout

import (
	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// Type is flusher_stdout in pipeline files.
var Type = config.FlusherType{Name: TypeName, Decode: decode}

var _ export.Config = (*Config)(nil)

// decode reads flusher_stdout's keys, with iLogtail's defaults.
func decode(detail config.Value) (config.FlusherConfig, error) {
	c := &Config{KeyValuePairs: true, MaxSize: DefaultMaxSize, MaxRolls: DefaultMaxRolls}
	var file config.Value
	err := detail.Fields([]config.Field{
		{Name: "OnlyStdout", Set: config.SetBool(&c.OnlyStdout)},
		{Name: "FileName", Set: func(v config.Value) (err error) {
			file = v
			c.FileName, err = v.Str()
			return err
		}},
		{Name: "MaxSize", Set: config.SetSizeOrDefault(&c.MaxSize, DefaultMaxSize)},
		{Name: "MaxRolls", Set: config.SetSizeOrDefault(&c.MaxRolls, DefaultMaxRolls)},
		{Name: "KeyValuePairs", Set: config.SetBool(&c.KeyValuePairs)},
		{Name: "Tags", Set: config.SetBool(&c.Tags)},
	}, nil)
	if err != nil {
		return nil, err
	}
	if c.OnlyStdout && c.FileName != "" {
		file.Warnf("ignored: OnlyStdout is true (as in iLogtail)")
	}
	return c, nil
}

// File is FileName, unless OnlyStdout.
func (c *Config) File() string {
	if c.OnlyStdout {
		return ""
	}
	return config.CleanFile(c.FileName)
}

// Open builds the flusher; standard output is env's.
func (c *Config) Open(ctx record.Context, env export.Env) (export.Output, error) {
	var opts []Option
	if c.FileName == "" || c.OnlyStdout {
		opts = append(opts, WithWriter(env.Stdout))
	}
	f, err := New(ctx, *c, opts...)
	if err != nil {
		return nil, err
	}
	return f, nil
}
