package abi

// Batch is the events of one poll, in the order the library produced them. Visit walks them in
// that order; the typed slices hold each kind in order too. A Batch and every payload in it are
// valid until the capture that filled it is given it back.
type Batch struct {
	Ctrl  []CtrlEvent
	Data  []DataEvent
	Stats []StatsEvent
	Lost  []LostNotice
	// Drained says the poll emptied every ring (it ran fewer callbacks than it could): every
	// event produced before the poll began is in this batch or an earlier one, or was lost.
	Drained bool
	// Proc holds the process events of a library with the process extension.
	Proc []ProcEvent

	order   []eventRef
	payload []byte // backing store of every Data[i].Payload
}

type eventKind uint8

const (
	kindCtrl eventKind = iota
	kindData
	kindStats
	kindLost
	kindProc
)

type eventRef struct {
	kind  eventKind
	index uint32
}

// Visitor receives a batch's events. Pointers are valid until the batch is released.
type Visitor interface {
	Ctrl(*CtrlEvent)
	Data(*DataEvent)
	Stats(*StatsEvent)
	Lost(LostNotice)
}

// Len is the number of events in the batch.
func (b *Batch) Len() int { return len(b.order) }

// Visit calls v for every event in production order; process events only if v is a
// ProcVisitor.
func (b *Batch) Visit(v Visitor) {
	pv, _ := v.(ProcVisitor)
	for _, r := range b.order {
		switch r.kind {
		case kindCtrl:
			v.Ctrl(&b.Ctrl[r.index])
		case kindData:
			v.Data(&b.Data[r.index])
		case kindStats:
			v.Stats(&b.Stats[r.index])
		case kindLost:
			v.Lost(b.Lost[r.index])
		case kindProc:
			if pv != nil {
				pv.Proc(&b.Proc[r.index])
			}
		}
	}
}

// Reset empties the batch and makes room for the given numbers of events and payload bytes, so
// that filling it does not reallocate: payload slices point into one backing array, which must
// not move while they are cut. A payload array past keptPayload is not kept for fewer bytes.
func (b *Batch) Reset(ctrl, data, stats, lost, proc, payloadBytes int) {
	if cap(b.payload) > keptPayload && payloadBytes <= keptPayload {
		b.payload = nil
	}
	b.Ctrl = grow(b.Ctrl[:0], ctrl)
	b.Data = grow(b.Data[:0], data)
	b.Stats = grow(b.Stats[:0], stats)
	b.Lost = grow(b.Lost[:0], lost)
	b.Proc = grow(b.Proc[:0], proc)
	b.order = grow(b.order[:0], ctrl+data+stats+lost+proc)
	b.payload = grow(b.payload[:0], payloadBytes)
	b.Drained = false
}

// keptPayload bounds the payload array a Batch keeps between uses (a poll of 1024 data events
// may carry 16 MiB): what the batches in flight hold at rest stays small however many there are.
const keptPayload = 4 << 20

func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) < n {
		return append(make([]T, 0, len(s)+n), s...)
	}
	return s
}

// AddCtrl appends a control event.
func (b *Batch) AddCtrl(e *CtrlEvent) {
	b.order = append(b.order, eventRef{kindCtrl, uint32(len(b.Ctrl))})
	b.Ctrl = append(b.Ctrl, *e)
}

// AddData appends a data event whose payload is copied into the batch.
func (b *Batch) AddData(attr *DataAttr, payload []byte) {
	b.order = append(b.order, eventRef{kindData, uint32(len(b.Data))})
	start := len(b.payload)
	b.payload = append(b.payload, payload...)
	b.Data = append(b.Data, DataEvent{DataAttr: *attr, Payload: b.payload[start:len(b.payload):len(b.payload)]})
}

// AddStats appends a statistics event.
func (b *Batch) AddStats(e *StatsEvent) {
	b.order = append(b.order, eventRef{kindStats, uint32(len(b.Stats))})
	b.Stats = append(b.Stats, *e)
}

// AddLost appends a loss notice.
func (b *Batch) AddLost(n LostNotice) {
	b.order = append(b.order, eventRef{kindLost, uint32(len(b.Lost))})
	b.Lost = append(b.Lost, n)
}

// AddProc appends a process event.
func (b *Batch) AddProc(e *ProcEvent) {
	b.order = append(b.order, eventRef{kindProc, uint32(len(b.Proc))})
	b.Proc = append(b.Proc, *e)
}
