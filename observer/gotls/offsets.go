package gotls

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
)

// The struct fields behind ConnOffsets, as DWARF names them: type, member.
var offsetFields = [...][2]string{
	{"crypto/tls.Conn", "conn"},
	{"runtime.iface", "data"},
	{"net.TCPConn", "conn"},
	{"net.conn", "fd"},
	{"net.netFD", "pfd"},
	{"internal/poll.FD", "Sysfd"},
}

// dwarfOffsets reads the field offsets from the binary's DWARF.
func dwarfOffsets(f *elf.File) (ConnOffsets, error) {
	d, err := f.DWARF()
	if err != nil {
		return ConnOffsets{}, err
	}
	want := map[string]bool{}
	for _, tf := range offsetFields {
		want[tf[0]] = true
	}
	found := map[[2]string]uint64{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return ConnOffsets{}, err
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			continue // its children are the types and functions
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if e.Tag != dwarf.TagStructType || !want[name] || !e.Children {
			if e.Children {
				r.SkipChildren() // a function's variables, another type's members
			}
			continue
		}
		delete(want, name)
		for {
			m, err := r.Next()
			if err != nil {
				return ConnOffsets{}, err
			}
			if m == nil || m.Tag == 0 {
				break
			}
			if m.Tag != dwarf.TagMember {
				if m.Children {
					r.SkipChildren()
				}
				continue
			}
			mname, _ := m.Val(dwarf.AttrName).(string)
			if off, ok := m.Val(dwarf.AttrDataMemberLoc).(int64); ok {
				found[[2]string{name, mname}] = uint64(off)
			}
		}
		if len(want) == 0 {
			break
		}
	}
	var v [len(offsetFields)]uint64
	for i, tf := range offsetFields {
		off, ok := found[tf]
		if !ok {
			return ConnOffsets{}, fmt.Errorf("DWARF has no %s.%s", tf[0], tf[1])
		}
		v[i] = off
	}
	return ConnOffsets{ConnData: v[0] + v[1], NetFD: v[2] + v[3], Sysfd: v[4] + v[5]}, nil
}

// fieldTable holds the offsets of binaries without DWARF, by Go version. The fields have not
// moved from Go 1.17 to 1.26: tls.Conn begins with conn (net.Conn: itab, data), net.TCPConn with
// its embedded net.conn whose only field is fd, net.netFD with pfd, and poll.FD's Sysfd follows
// the 16-byte fdMutex. TestTableMatchesDWARF checks the row against the DWARF of binaries built
// with the toolchains at hand (run with go1.21.13, go1.23.12, go1.24.13 and go1.26.8; 1.17 to 1.20
// have no toolchain module and were read from their sources). A stripped binary of a later Go is
// refused rather than read with offsets nobody checked.
var fieldTable = []tableRow{
	{"go1.17-1.26", 17, 26, ConnOffsets{ConnData: 8, NetFD: 0, Sysfd: 16}},
}

type tableRow struct {
	name        string
	first, last int // Go 1.first … 1.last
	offsets     ConnOffsets
}

func tableFor(minor int) (tableRow, bool) {
	for _, r := range fieldTable {
		if minor >= r.first && minor <= r.last {
			return r, true
		}
	}
	return tableRow{}, false
}
