package lines

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/netobserver/netobserver/internal/fileperm"
)

// File is an Output appending to a file, created with mode 0640 (directories 0750) whatever the
// umask; an existing file keeps its mode. Before a line is written, if the file has reached
// MaxSize bytes, it is rotated by its Policy, so lines are never split across files and a file
// can exceed MaxSize by up to one line. A File that could not be opened (after a failed rotation
// or Reopen) is opened again at the next write.
type File struct {
	path    string
	maxSize int64 // 0: never rotated
	policy  Policy
	f       *os.File
	size    int64 // bytes in f

	rotations atomic.Uint64
}

// Policy moves a full file out of the way; the File opens a new one after it. A Policy whose
// move returns an error loses the lines not yet written.
type Policy struct {
	// sync: fsync the full file before it is moved.
	sync bool
	// move is given the error of closing the full file.
	move func(f *File, closed error) error
}

// OpenFile opens path for appending; maxSize 0 never rotates.
func OpenFile(path string, maxSize int64, policy Policy) (*File, error) {
	f := &File{path: path, maxSize: maxSize, policy: policy}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) open() error {
	file, err := fileperm.OpenAppend(f.path, fileperm.Records)
	if err != nil {
		return err
	}
	st, err := file.Stat()
	if err != nil {
		_ = file.Close()
		return err
	}
	f.f, f.size = file, st.Size()
	return nil
}

// WriteLines writes b, rotating between lines when the file has reached maxSize. Lines between
// rotations go out in one write.
func (f *File) WriteLines(b *Buffer) error {
	if f.f == nil {
		if err := f.open(); err != nil {
			return err
		}
	}
	if f.maxSize <= 0 {
		_, err := f.f.Write(b.B)
		f.size += int64(len(b.B))
		return err
	}
	start, lineStart := 0, 0
	for _, end := range b.Ends {
		if f.size >= f.maxSize {
			if lineStart > start {
				if _, err := f.f.Write(b.B[start:lineStart]); err != nil {
					return err
				}
			}
			if err := f.rotate(); err != nil {
				return err
			}
			start = lineStart
		}
		f.size += int64(end - lineStart)
		lineStart = end
	}
	if lineStart > start {
		_, err := f.f.Write(b.B[start:lineStart])
		return err
	}
	return nil
}

// rotate closes the full file, has the policy move it, and opens a new one.
func (f *File) rotate() error {
	var err error
	if f.policy.sync {
		err = f.f.Sync()
	}
	err = errors.Join(err, f.f.Close())
	f.f = nil
	if err := f.policy.move(f, err); err != nil {
		return err
	}
	if err := f.open(); err != nil {
		return err
	}
	f.rotations.Add(1)
	return nil
}

// Rotations is the number of times the file was rotated.
func (f *File) Rotations() uint64 { return f.rotations.Load() }

// Reopen syncs and closes the file and opens its path again: after logrotate renamed it, lines go
// to a new file there.
func (f *File) Reopen() error {
	err := f.close()
	if oerr := f.open(); oerr != nil {
		return fmt.Errorf("reopen %s: %w", f.path, errors.Join(err, oerr))
	}
	if err != nil {
		return fmt.Errorf("closing the old file: %w", err)
	}
	return nil
}

// Close syncs and closes the file, so the lines are on disk when it returns nil.
func (f *File) Close() error { return f.close() }

func (f *File) close() error {
	if f.f == nil {
		return nil
	}
	err := errors.Join(f.f.Sync(), f.f.Close())
	f.f = nil
	return err
}

// roll returns the name of rotated file n.
func (f *File) roll(n int) string { return f.path + "." + strconv.Itoa(n) }

// SeelogRolls is how iLogtail's seelog <rollingfile type="size"> rolled flusher_stdout's file:
// renamed to "<file>.<n>", n one above the highest existing, then the lowest-numbered rolls
// beyond maxRolls deleted.
func SeelogRolls(maxRolls int) Policy {
	return Policy{move: func(f *File, err error) error {
		dir, base := filepath.Dir(f.path), filepath.Base(f.path)
		rolls, lerr := existingRolls(dir, base)
		if lerr != nil {
			return errors.Join(err, lerr)
		}
		next := 1
		if len(rolls) > 0 {
			next = rolls[len(rolls)-1] + 1
		}
		if rerr := os.Rename(f.path, f.roll(next)); rerr != nil {
			return errors.Join(err, rerr)
		}
		rolls = append(rolls, next)
		for len(rolls) > maxRolls {
			if rerr := os.Remove(f.roll(rolls[0])); rerr != nil && !os.IsNotExist(rerr) {
				err = errors.Join(err, rerr)
			}
			rolls = rolls[1:]
		}
		return err
	}}
}

// existingRolls returns the indexes of the existing "<base>.<n>" files in dir, ascending.
func existingRolls(dir, base string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing rolls: %w", err)
	}
	var idx []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			idx = append(idx, n)
		}
	}
	sort.Ints(idx)
	return idx, nil
}

// ShiftRolls is logrotate's default numbering, flusher_jsonl's: <file>.<maxRolls> removed,
// <file>.<n> renamed to <file>.<n+1>, the file to <file>.1. What goes wrong is logged, not
// returned: a new file is opened anyway, so no line is lost (a failed rename leaves the file at
// its size, and the next line tries again).
func ShiftRolls(name string, maxRolls int) Policy {
	return Policy{sync: true, move: func(f *File, err error) error {
		if rerr := os.Remove(f.roll(maxRolls)); rerr != nil && !os.IsNotExist(rerr) {
			err = errors.Join(err, rerr)
		}
		for n := maxRolls - 1; n >= 1; n-- {
			if rerr := os.Rename(f.roll(n), f.roll(n+1)); rerr != nil && !os.IsNotExist(rerr) {
				err = errors.Join(err, rerr)
			}
		}
		if rerr := os.Rename(f.path, f.roll(1)); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			slog.Warn(name+": rotation incomplete", "path", f.path, "err", err)
		}
		return nil
	}}
}
