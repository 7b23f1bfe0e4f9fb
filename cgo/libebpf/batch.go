package libebpf

/*
#include "bridge.h"
*/
import "C"

import (
	"encoding/binary"
	"unsafe"
)

// Batch is the events of one poll, decoded into Go memory, in the order the library produced
// them. Visit walks them in that order; the typed slices hold each kind in order too. A Batch and
// every payload in it are valid until Release.
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
	kindCtrl  eventKind = C.NETOBS_CTRL
	kindData  eventKind = C.NETOBS_DATA
	kindStats eventKind = C.NETOBS_STATS
	kindLost  eventKind = C.NETOBS_LOST
	kindProc  eventKind = C.NETOBS_PROC
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

func (b *Batch) reset() {
	b.Ctrl = b.Ctrl[:0]
	b.Data = b.Data[:0]
	b.Stats = b.Stats[:0]
	b.Lost = b.Lost[:0]
	b.Drained = false
	b.Proc = b.Proc[:0]
	b.order = b.order[:0]
	b.payload = b.payload[:0]
}

// grow makes room for n more elements without reallocating during decode.
func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) < n {
		return append(make([]T, 0, len(s)+n), s...)
	}
	return s
}

const (
	recordHeader = int(unsafe.Sizeof(C.struct_netobs_record{}))
	dataAttrSize = int(unsafe.Sizeof(DataAttr{}))
	tryToPrepend = int(unsafe.Offsetof(DataAttr{}.TryToPrepend))
)

// decode copies the C batch into b. The C records are 8-byte aligned (bridge.c pads them), so
// each fixed-size event is one typed copy; only payloads need a second copy.
func (b *Batch) decode(cb *C.struct_netobs_batch) {
	b.reset()
	if cb.records == 0 {
		return
	}
	b.order = grow(b.order, int(cb.records))
	b.Ctrl = grow(b.Ctrl, int(cb.ctrl))
	b.Data = grow(b.Data, int(cb.data))
	b.Stats = grow(b.Stats, int(cb.stats))
	b.Lost = grow(b.Lost, int(cb.lost))
	b.Proc = grow(b.Proc, int(cb.proc))
	// Payload slices point into b.payload, so it must not move while they are cut.
	b.payload = grow(b.payload, int(cb.payload_bytes))

	raw := unsafe.Slice((*byte)(unsafe.Pointer(cb.buf)), int(cb.len))
	for off := 0; off+recordHeader <= len(raw); {
		kind := eventKind(binary.LittleEndian.Uint32(raw[off:]))
		size := int(binary.LittleEndian.Uint32(raw[off+4:]))
		rec := raw[off+recordHeader : off+recordHeader+size]
		off += recordHeader + (size+7)&^7
		switch kind {
		case kindCtrl:
			b.order = append(b.order, eventRef{kindCtrl, uint32(len(b.Ctrl))})
			b.Ctrl = append(b.Ctrl, *(*CtrlEvent)(unsafe.Pointer(&rec[0])))
		case kindStats:
			b.order = append(b.order, eventRef{kindStats, uint32(len(b.Stats))})
			b.Stats = append(b.Stats, *(*StatsEvent)(unsafe.Pointer(&rec[0])))
		case kindLost:
			b.order = append(b.order, eventRef{kindLost, uint32(len(b.Lost))})
			b.Lost = append(b.Lost, *(*LostNotice)(unsafe.Pointer(&rec[0])))
		case kindProc:
			b.order = append(b.order, eventRef{kindProc, uint32(len(b.Proc))})
			b.Proc = append(b.Proc, *(*ProcEvent)(unsafe.Pointer(&rec[0])))
		case kindData:
			b.order = append(b.order, eventRef{kindData, uint32(len(b.Data))})
			ev := DataEvent{DataAttr: *(*DataAttr)(unsafe.Pointer(&rec[0]))}
			// A C bool may hold any byte; a Go bool must be 0 or 1.
			ev.TryToPrepend = rec[tryToPrepend] != 0
			start := len(b.payload)
			b.payload = append(b.payload, rec[dataAttrSize:]...)
			ev.Payload = b.payload[start:len(b.payload):len(b.payload)]
			b.Data = append(b.Data, ev)
		}
	}
}
