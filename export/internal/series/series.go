// Package series keeps the few live series an exporter updates per call (one per protocol and
// role, say), found by their two label values without a lock: scanning a handful of entries whose
// strings are mostly the same constants costs less than hashing them, and the list is copied on
// write, so readers never wait.
package series

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Key is a series' two label values.
type Key struct{ A, B string }

// Set holds at most Max series of type T.
type Set[T any] struct {
	max int
	mu  sync.Mutex
	all atomic.Pointer[[]entry[T]]
}

type entry[T any] struct {
	key Key
	val *T
}

// New returns a Set of at most max series.
func New[T any](max int) *Set[T] { return &Set[T]{max: max} }

// Get returns the series of k, made by make the first time; nil once the set holds max others.
func (s *Set[T]) Get(k Key, make func() *T) *T {
	if v := s.find(k); v != nil {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.find(k); v != nil {
		return v
	}
	var all []entry[T]
	if p := s.all.Load(); p != nil {
		all = *p
	}
	if len(all) >= s.max {
		return nil
	}
	v := make()
	all = append(slices.Clip(all), entry[T]{k, v})
	s.all.Store(&all)
	return v
}

func (s *Set[T]) find(k Key) *T {
	if p := s.all.Load(); p != nil {
		for _, e := range *p {
			if e.key == k {
				return e.val
			}
		}
	}
	return nil
}

// Len is the number of series held.
func (s *Set[T]) Len() int {
	if p := s.all.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// Each calls fn with every series, in the order they were made.
func (s *Set[T]) Each(fn func(*T)) {
	if p := s.all.Load(); p != nil {
		for _, e := range *p {
			fn(e.val)
		}
	}
}
