package libebpf

/*
#include "bridge.h"
*/
import "C"

// headerLayout returns the sizes and offsets the C compiler gives the ABI header's types, keyed
// "struct.field" (bridge.c lists them). The layout tests hold the Go types to them.
func headerLayout() map[string]uintptr {
	m := make(map[string]uintptr)
	var name *C.char
	var value C.size_t
	for i := C.int(0); C.netobs_layout(i, &name, &value) != 0; i++ {
		m[C.GoString(name)] = uintptr(value)
	}
	return m
}
