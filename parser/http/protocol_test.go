package http

import (
	"math"
	"strconv"
	"testing"
)

func TestStatusText(t *testing.T) {
	for code := -10; code <= 1100; code++ {
		if got := StatusText(code); got != strconv.Itoa(code) {
			t.Fatalf("StatusText(%d) = %q", code, got)
		}
	}
	for _, code := range []int{math.MinInt, -1 << 31, 1 << 31, math.MaxInt} {
		if got := StatusText(code); got != strconv.Itoa(code) {
			t.Fatalf("StatusText(%d) = %q", code, got)
		}
	}
}
