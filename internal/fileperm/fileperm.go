package fileperm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// The modes netobserver uses.
const (
	// Trace is the mode of trace files (netobserver record -o): raw payloads, passwords and
	// cookies included, for the owner only.
	Trace fs.FileMode = 0o600
	// Records is the mode of record files (flusher_stdout FileName, flusher_jsonl Path): the
	// owner writes, the group (a log shipper) reads.
	Records fs.FileMode = 0o640
	// Dir is the mode of directories created for those files.
	Dir fs.FileMode = 0o750
)

// MkdirAll creates dir and its missing parents with mode Dir; directories that exist keep
// theirs.
func MkdirAll(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if parent := filepath.Dir(d); parent == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], Dir); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // made meanwhile by someone else: theirs
			}
			return err
		}
		if err := os.Chmod(missing[i], Dir); err != nil {
			return err
		}
	}
	return nil
}

// OpenAppend opens path for appending, creating it with mode perm (and its directory with
// MkdirAll) when it does not exist; an existing file keeps its mode.
func OpenAppend(path string, perm fs.FileMode) (*os.File, error) {
	if err := MkdirAll(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, perm)
	if errors.Is(err, fs.ErrExist) {
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Create creates or truncates path and gives a regular file mode perm, also when it existed:
// what it held is gone, what it will hold is what perm protects. Anything else (/dev/null, a
// pipe) is written as it is.
func Create(path string, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() {
		err = f.Chmod(perm)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
