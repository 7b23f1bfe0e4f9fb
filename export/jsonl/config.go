package jsonl

import (
	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// Type is flusher_jsonl in pipeline files.
var Type = config.FlusherType{Name: TypeName, Decode: decode}

var _ export.Config = (*Config)(nil)

func decode(detail config.Value) (config.FlusherConfig, error) {
	c := &Config{MaxRolls: DefaultMaxRolls}
	err := detail.Fields([]config.Field{
		{Name: "Path", Set: config.SetString(&c.Path)},
		{Name: "MaxSize", Set: func(v config.Value) (err error) {
			c.MaxSize, err = v.NonNegative()
			return err
		}},
		{Name: "MaxRolls", Set: config.SetSizeOrDefault(&c.MaxRolls, DefaultMaxRolls)},
	}, nil)
	if err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, detail.Missing("Path", "flusher_jsonl needs the file to write")
	}
	return c, nil
}

// File is Path.
func (c *Config) File() string { return config.CleanFile(c.Path) }

// Open builds the flusher.
func (c *Config) Open(ctx record.Context, _ export.Env) (export.Output, error) {
	f, err := New(ctx, *c)
	if err != nil {
		return nil, err
	}
	return f, nil
}
