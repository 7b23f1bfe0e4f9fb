package calls

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Add adds every count: a field added to Counters and forgotten in Add would reset on reload.
func TestCountersAddAddsEveryField(t *testing.T) {
	var one, want Counters
	n := uint64(0)
	var fill func(a, b reflect.Value)
	fill = func(a, b reflect.Value) {
		for i := range a.NumField() {
			switch f := a.Field(i); f.Kind() {
			case reflect.Struct:
				fill(f, b.Field(i))
			case reflect.Uint64:
				n++
				f.SetUint(n)
				b.Field(i).SetUint(2 * n)
			default:
				t.Fatalf("Counters field %s is neither a count nor counts", a.Type().Field(i).Name)
			}
		}
	}
	fill(reflect.ValueOf(&one).Elem(), reflect.ValueOf(&want).Elem())
	got := one
	got.Add(one)
	assert.Equal(t, want, got)
}
