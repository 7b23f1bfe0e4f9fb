// Package stream reassembles one direction of one connection from the kernel's data events, by
// stream position, for the protocol parsers (the role Pixie's DataStreamBuffer plays).
//
// A Buffer resolves where each syscall's group of events starts (group.go), places the bytes by
// position, and hands the parser the contiguous bytes at the parse position (buffer.go); it
// gives up holes by rules that count every byte, and bounds the memory it holds. It knows no
// protocol: a protocol's rule for the kernel side's length_header comes as Config.GlueLengthHeader.
// README.md describes the kernel's events, the resolution rules and the accounting identities.
package stream
