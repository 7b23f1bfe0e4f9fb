package series

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGetMakesOnceAndBounds(t *testing.T) {
	s := New[int](2)
	made := 0
	mk := func(v int) func() *int { return func() *int { made++; return &v } }
	a := s.Get(Key{"http", "client"}, mk(1))
	assert.Same(t, a, s.Get(Key{"http", "client"}, mk(9)))
	b := s.Get(Key{"http", "server"}, mk(2))
	assert.Equal(t, 2, *b)
	assert.Nil(t, s.Get(Key{"redis", "client"}, mk(3)), "past the bound")
	assert.Same(t, a, s.Get(Key{"http", "client"}, mk(9)), "known series still found at the bound")
	assert.Equal(t, 2, made)
	var all []int
	s.Each(func(v *int) { all = append(all, *v) })
	assert.Equal(t, []int{1, 2}, all, "in the order made")
}

func TestConcurrentGetsShareOneSeries(t *testing.T) {
	s := New[int](64)
	var wg sync.WaitGroup
	got := make([]*int, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = s.Get(Key{"dns", "client"}, func() *int { return new(int) })
		}()
	}
	wg.Wait()
	for _, p := range got {
		assert.Same(t, got[0], p)
	}
}
