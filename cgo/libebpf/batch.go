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

// decode copies the C batch into b. The C entries are 8-byte aligned (bridge.c pads them), so
// each fixed-size event is one typed copy; only payloads need a second copy.
func decode(b *abi.Batch, cb *C.struct_netobs_batch) {
	b.Reset(int(cb.ctrl), int(cb.data), int(cb.stats), int(cb.lost), int(cb.proc), int(cb.payload_bytes))
	if cb.entries == 0 {
		return
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(cb.buf)), int(cb.len))
	for off := 0; off+entryHeader <= len(raw); {
		kind := eventKind(binary.LittleEndian.Uint32(raw[off:]))
		size := int(binary.LittleEndian.Uint32(raw[off+4:]))
		ev := raw[off+entryHeader : off+entryHeader+size]
		off += entryHeader + (size+7)&^7
		switch kind {
		case kindCtrl:
			b.AddCtrl((*abi.CtrlEvent)(unsafe.Pointer(&ev[0])))
		case kindStats:
			b.AddStats((*abi.StatsEvent)(unsafe.Pointer(&ev[0])))
		case kindLost:
			b.AddLost(*(*abi.LostNotice)(unsafe.Pointer(&ev[0])))
		case kindProc:
			b.AddProc((*abi.ProcEvent)(unsafe.Pointer(&ev[0])))
		case kindData:
			attr := *(*abi.DataAttr)(unsafe.Pointer(&ev[0]))
			// A C bool may hold any byte; a Go bool must be 0 or 1.
			attr.TryToPrepend = ev[tryToPrepend] != 0
			b.AddData(&attr, ev[dataAttrSize:])
		}
	}
}
