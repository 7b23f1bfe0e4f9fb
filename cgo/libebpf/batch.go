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
	recordHeader = int(unsafe.Sizeof(C.struct_netobs_record{}))
	dataAttrSize = int(unsafe.Sizeof(abi.DataAttr{}))
	tryToPrepend = int(unsafe.Offsetof(abi.DataAttr{}.TryToPrepend))
)

// decode copies the C batch into b. The C records are 8-byte aligned (bridge.c pads them), so
// each fixed-size event is one typed copy; only payloads need a second copy.
func decode(b *abi.Batch, cb *C.struct_netobs_batch) {
	b.Reset(int(cb.ctrl), int(cb.data), int(cb.stats), int(cb.lost), int(cb.proc), int(cb.payload_bytes))
	if cb.records == 0 {
		return
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(cb.buf)), int(cb.len))
	for off := 0; off+recordHeader <= len(raw); {
		kind := eventKind(binary.LittleEndian.Uint32(raw[off:]))
		size := int(binary.LittleEndian.Uint32(raw[off+4:]))
		rec := raw[off+recordHeader : off+recordHeader+size]
		off += recordHeader + (size+7)&^7
		switch kind {
		case kindCtrl:
			b.AddCtrl((*abi.CtrlEvent)(unsafe.Pointer(&rec[0])))
		case kindStats:
			b.AddStats((*abi.StatsEvent)(unsafe.Pointer(&rec[0])))
		case kindLost:
			b.AddLost(*(*abi.LostNotice)(unsafe.Pointer(&rec[0])))
		case kindProc:
			b.AddProc((*abi.ProcEvent)(unsafe.Pointer(&rec[0])))
		case kindData:
			attr := *(*abi.DataAttr)(unsafe.Pointer(&rec[0]))
			// A C bool may hold any byte; a Go bool must be 0 or 1.
			attr.TryToPrepend = rec[tryToPrepend] != 0
			b.AddData(&attr, rec[dataAttrSize:])
		}
	}
}
