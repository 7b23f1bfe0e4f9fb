package calls

import "github.com/netobserver/netobserver/abi"

// notes remembers what control events said about connections that have no data yet — the role
// a connect gave, or that a close came first (control events are polled before data events, so a
// short connection's close usually arrives before its data) — up to a bound, forgetting the
// oldest note first. The Tracker keeps one for connects and one for closes.
type notes struct {
	max   int
	m     map[abi.ConnID]note
	order []noteRef // in the order notes were made; entries whose note changed are stale
	head  int       // order[:head] are gone
	made  uint64
	// Evicted counts notes forgotten to stay within max.
	Evicted uint64
}

type note struct {
	role     abi.Role
	closedAt uint64 // ts of the close event (closes)
	made     uint64 // which put made it
}

type noteRef struct {
	id   abi.ConnID
	made uint64
}

func newNotes(max int) *notes {
	return &notes{max: max, m: make(map[abi.ConnID]note)}
}

func (n *notes) len() int { return len(n.m) }

func (n *notes) get(id abi.ConnID) (note, bool) {
	v, ok := n.m[id]
	return v, ok
}

// put makes v the note of id, the newest one.
func (n *notes) put(id abi.ConnID, v note) {
	n.made++
	v.made = n.made
	n.m[id] = v
	n.order = append(n.order, noteRef{id, v.made})
	for len(n.m) > n.max {
		n.evictOldest()
	}
	// Gone and stale entries are compacted away once they are most of order: amortised O(1) per
	// put, and order stays within a few times the notes held.
	if live := len(n.order) - n.head; n.head > 64 && n.head > live || live > 64 && live > 2*len(n.m) {
		kept := n.order[:0]
		for _, r := range n.order[n.head:] {
			if v, ok := n.m[r.id]; ok && v.made == r.made {
				kept = append(kept, r)
			}
		}
		clear(n.order[len(kept):])
		n.order, n.head = kept, 0
	}
}

func (n *notes) delete(id abi.ConnID) { delete(n.m, id) }

// oldest returns the oldest live note.
func (n *notes) oldest() (abi.ConnID, note, bool) {
	for n.head < len(n.order) {
		r := n.order[n.head]
		if v, ok := n.m[r.id]; ok && v.made == r.made {
			return r.id, v, true
		}
		n.head++
	}
	n.order, n.head = n.order[:0], 0
	return abi.ConnID{}, note{}, false
}

func (n *notes) evictOldest() {
	if id, _, ok := n.oldest(); ok {
		delete(n.m, id)
		n.Evicted++
	}
}

// expireClosed forgets the notes of closes older than grace before now, oldest first (closes are
// noted roughly in event order; one out of order waits for a later call or for the bound).
func (n *notes) expireClosed(now, grace uint64) {
	for {
		id, v, ok := n.oldest()
		if !ok || now < v.closedAt || now-v.closedAt < grace {
			return
		}
		delete(n.m, id)
	}
}
