package record

// Field is one key/value of a record. Keys keep the order the schema gives them.
type Field struct {
	Key, Value string
}

// Record is one log entry: the seconds of its time (iLogtail's __time__) and its fields in order.
type Record struct {
	Time   uint32
	Fields []Field
}

// Add appends a field.
func (r *Record) Add(key, value string) {
	r.Fields = append(r.Fields, Field{key, value})
}

// Get returns the value of the first field named key.
func (r *Record) Get(key string) (string, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Context is what a flusher knows of the pipeline it serves.
type Context struct {
	// ConfigName is iLogtail's name of the pipeline: "config#" followed by the config file's path.
	ConfigName string
	// Logstore is the pipeline's logstore; empty for a local config file.
	Logstore string
}

// Flusher writes records somewhere.
type Flusher interface {
	// Flush writes records, or queues them for writing; it does not keep the slice or the
	// records after it returns. An error means records were lost, and how many is counted.
	Flush(records []Record) error
	// Close writes what is queued, within the flusher's own time bound, and releases everything.
	Close() error
}
