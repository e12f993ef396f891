package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ImportImages copies image archives (docker save or OCI layout tar) into
// DIR/images, which the agent imports every time it starts, and imports them
// into the node's runtime now if it is running.
func ImportImages(ctx context.Context, dir string, files []string) error {
	p := Paths{Dir: dir}
	if _, err := os.Stat(SpecPath(dir)); err != nil {
		return fmt.Errorf("not a node directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o700); err != nil {
		return err
	}
	for _, f := range files {
		kept, err := KeepArchive(dir, f)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p.Socket()); err != nil {
			continue // not running: imported when it starts
		}
		if err := importArchive(ctx, p, kept); err != nil {
			return err
		}
	}
	return nil
}

// KeepArchive copies f to DIR/images/SHA256.tar (named by content, so the
// same archive twice is kept once) and returns that path.
func KeepArchive(dir, f string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o700); err != nil {
		return "", err
	}
	in, err := os.Open(f)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Join(dir, "images"), ".import-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "images", hex.EncodeToString(h.Sum(nil))+".tar")
	return dst, os.Rename(tmp.Name(), dst)
}
