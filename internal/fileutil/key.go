package fileutil

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// LoadOrCreateKey reads the key of size random bytes at name or, the first
// time, makes it (mode SecretMode, complete before its name appears), so a
// crash leaves no partial key and two processes starting at once agree on
// one. A key file that is not a regular file or has the wrong size is an
// error; one readable by others is made SecretMode. Errors never contain key
// material.
func LoadOrCreateKey(name string, size int) ([]byte, error) {
	key, err := readKey(name, size)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := CreateFile(name, fresh, SecretMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(name, size) // another process made it first
		}
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return fresh, nil
}

func readKey(name string, size int) ([]byte, error) {
	info, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if info.Mode().Perm() != SecretMode {
		if err := os.Chmod(name, SecretMode); err != nil {
			return nil, fmt.Errorf("tighten permissions of %s: %w", name, err)
		}
	}
	key, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if len(key) != size {
		return nil, fmt.Errorf("%s holds %d bytes, want %d", name, len(key), size)
	}
	return key, nil
}
