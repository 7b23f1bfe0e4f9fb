package libebpf

/*
#include "bridge.h"
*/
import "C"

import (
	"encoding/binary"
	"unsafe"

	"github.com/netobserver/netobserver/abi"
)

type eventKind uint8

const (
	kindCtrl  eventKind = C.NETOBS_CTRL
	kindData  eventKind = C.NETOBS_DATA
	kindStats eventKind = C.NETOBS_STATS
	kindLost  eventKind = C.NETOBS_LOST
	kindProc  eventKind = C.NETOBS_PROC
)

const (
	entryHeader  = int(unsafe.Sizeof(C.struct_netobs_entry{}))
	dataAttrSize = int(unsafe.Sizeof(abi.DataAttr{}))
	tryToPrepend = int(unsafe.Offsetof(abi.DataAttr{}.TryToPrepend))
)

// visit hands every event of the C batch to v in place: the C entries are 8-byte aligned
// (bridge.c pads them), so each fixed-size event is read where the callback wrote it and each
// payload is a slice of the batch. Only a data event's attributes are copied, to make its C bool
// a Go bool. Nothing is valid after the next poll.
func visit(v abi.Visitor, pv abi.ProcVisitor, cb *C.struct_netobs_batch) {
	if cb.entries == 0 {
		return
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(cb.buf)), int(cb.len))
	var ev abi.DataEvent
	for off := 0; off+entryHeader <= len(raw); {
		kind := eventKind(binary.LittleEndian.Uint32(raw[off:]))
		size := int(binary.LittleEndian.Uint32(raw[off+4:]))
		rec := raw[off+entryHeader : off+entryHeader+size : off+entryHeader+size]
		off += entryHeader + (size+7)&^7
		switch kind {
		case kindCtrl:
			v.Ctrl((*abi.CtrlEvent)(unsafe.Pointer(&rec[0])))
		case kindStats:
			v.Stats((*abi.StatsEvent)(unsafe.Pointer(&rec[0])))
		case kindLost:
			v.Lost(*(*abi.LostNotice)(unsafe.Pointer(&rec[0])))
		case kindProc:
			if pv != nil {
				pv.Proc((*abi.ProcEvent)(unsafe.Pointer(&rec[0])))
			}
		case kindData:
			ev.DataAttr = *(*abi.DataAttr)(unsafe.Pointer(&rec[0]))
			// A C bool may hold any byte; a Go bool must be 0 or 1.
			ev.TryToPrepend = rec[tryToPrepend] != 0
			ev.Payload = rec[dataAttrSize:]
			v.Data(&ev)
		}
	}
}
