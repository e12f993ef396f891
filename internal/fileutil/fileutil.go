// Package fileutil writes files so that a crash at any moment leaves either
// the old content or the new, complete and on disk: never a partial file, a
// readable half-written secret, or a name whose content did not reach the
// disk.
package fileutil

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// SecretMode is the mode of every file that holds a secret (keys,
// credentials): readable by kplane's user only.
const SecretMode fs.FileMode = 0o600

// WriteFile replaces name with data, mode perm: through a temporary file in
// the same directory (made 0700 if missing), synced, renamed over name, and
// the directory synced so that the rename survives a crash too.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(name, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // gone after the rename; left only by a failure
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// WriteFileIfChanged is WriteFile unless name already holds exactly data
// (its mode is then left as it is).
func WriteFileIfChanged(name string, data []byte, perm fs.FileMode) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return WriteFile(name, data, perm)
}

// CreateFile makes name with data, mode perm, only if there is no file of
// that name: fs.ErrExist otherwise (another process made it first). The
// content is complete and synced before the name appears.
func CreateFile(name string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(name, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the link, only the temporary name goes
	if err := os.Link(tmp, name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// writeTemp writes data to a new synced file beside name and returns its
// path. The file is mode perm from the start (CreateTemp makes it 0600, and
// it is changed before any byte is written).
func writeTemp(name string, data []byte, perm fs.FileMode) (string, error) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return "", err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// syncDir persists a directory's entries (a new or renamed name). A
// platform or file system that cannot sync a directory says EINVAL; that
// is no failure of the write.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
