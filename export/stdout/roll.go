package stdout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/netobserver/netobserver/internal/fileperm"
)

// rollingFile is the size-rolled file iLogtail got from seelog's <rollingfile type="size">: the
// same roll test (before each line, size >= maxSize), the same names ("<file>.<n>", n one above
// the highest existing) and the same pruning (lowest n first, down to maxRolls).
type rollingFile struct {
	path     string
	dir      string
	base     string
	maxSize  int64
	maxRolls int
	f        *os.File
	size     int64
}

func openRollingFile(path string, maxSize int64, maxRolls int) (*rollingFile, error) {
	r := &rollingFile{
		path:     path,
		dir:      filepath.Dir(path),
		base:     filepath.Base(path),
		maxSize:  maxSize,
		maxRolls: maxRolls,
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// open appends to the file, creating it (mode 0640) and its directory (0750), whatever the
// umask.
func (r *rollingFile) open() error {
	f, err := fileperm.OpenAppend(r.path, fileperm.Records)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

// writeLines writes buf, whose lines end at the offsets in ends, rolling between lines when the
// file has reached maxSize. Lines between rolls go out in one write.
func (r *rollingFile) writeLines(buf []byte, ends []int) error {
	if r.f == nil {
		// A roll failed earlier: try to get a file again rather than stay broken.
		if err := r.open(); err != nil {
			return err
		}
	}
	start, lineStart := 0, 0
	for _, end := range ends {
		if r.size >= r.maxSize {
			if lineStart > start {
				if _, err := r.f.Write(buf[start:lineStart]); err != nil {
					return err
				}
			}
			if err := r.roll(); err != nil {
				return err
			}
			start = lineStart
		}
		r.size += int64(end - lineStart)
		lineStart = end
	}
	if lineStart > start {
		_, err := r.f.Write(buf[start:lineStart])
		return err
	}
	return nil
}

// roll renames the full file to the next roll name, prunes old rolls and starts a new file.
func (r *rollingFile) roll() error {
	err := r.f.Close()
	r.f = nil
	rolls, lerr := r.rolls()
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	next := 1
	if len(rolls) > 0 {
		next = rolls[len(rolls)-1] + 1
	}
	if rerr := os.Rename(r.path, filepath.Join(r.dir, r.base+"."+strconv.Itoa(next))); rerr != nil {
		return errors.Join(err, rerr)
	}
	rolls = append(rolls, next)
	for len(rolls) > r.maxRolls {
		if rerr := os.Remove(filepath.Join(r.dir, r.base+"."+strconv.Itoa(rolls[0]))); rerr != nil && !os.IsNotExist(rerr) {
			err = errors.Join(err, rerr)
		}
		rolls = rolls[1:]
	}
	if oerr := r.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// rolls returns the indexes of the existing "<base>.<n>" files, ascending.
func (r *rollingFile) rolls() ([]int, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("listing rolls: %w", err)
	}
	var idx []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), r.base+".")
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

// reopen closes the file and opens the path again: after a rename, lines go to a new file there.
func (r *rollingFile) reopen() error {
	err := r.close()
	if oerr := r.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// close syncs and closes the file.
func (r *rollingFile) close() error {
	if r.f == nil {
		return nil
	}
	err := errors.Join(r.f.Sync(), r.f.Close())
	r.f = nil
	return err
}
