package fileutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWithModeAndLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "sub", "secret")
	if err := WriteFile(name, []byte("one"), SecretMode); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(name, []byte("two"), SecretMode); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	info, _ := os.Stat(name)
	if info.Mode().Perm() != SecretMode {
		t.Fatalf("mode %v, want %v", info.Mode().Perm(), SecretMode)
	}
	if sub, _ := os.Stat(filepath.Dir(name)); sub.Mode().Perm() != 0o700 {
		t.Fatalf("made directory mode %v, want 0700", sub.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Fatalf("directory holds %v, want only the file", entries)
	}
}

func TestWriteFileKeepsPublicMode(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ca.crt")
	if err := WriteFile(name, []byte("cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(name); info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", info.Mode().Perm())
	}
}

func TestWriteFileIfChangedLeavesSameContentAlone(t *testing.T) {
	name := filepath.Join(t.TempDir(), "spec.json")
	if err := WriteFile(name, []byte("x"), SecretMode); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(name)
	if err := WriteFileIfChanged(name, []byte("x"), SecretMode); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(name); !os.SameFile(before, after) {
		t.Fatal("same content was written again (a new file replaced the old)")
	}
	if err := WriteFileIfChanged(name, []byte("y"), SecretMode); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(name); string(b) != "y" {
		t.Fatalf("content %q after a change", b)
	}
}

func TestCreateFileOnlyOnce(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "master.key")
	if err := CreateFile(name, []byte("first"), SecretMode); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(name, []byte("second"), SecretMode); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(name); string(b) != "first" {
		t.Fatalf("content %q, want the first", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %v, want only the file", entries)
	}
}

func TestWriteFileFailureLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	if err := WriteFile(name, []byte("old"), SecretMode); err != nil {
		t.Fatal(err)
	}
	// A directory where the file should be: the rename fails, the
	// temporary goes, the directory stays as it was.
	blocked := filepath.Join(dir, "d")
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(blocked, []byte("new"), SecretMode); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %v after a failed write, want f and d", entries)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	name := filepath.Join(t.TempDir(), "data", "master.key")
	first, err := LoadOrCreateKey(name, 32)
	if err != nil || len(first) != 32 {
		t.Fatalf("create: %d bytes, %v", len(first), err)
	}
	if err := os.Chmod(name, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateKey(name, 32)
	if err != nil || string(again) != string(first) {
		t.Fatalf("load gave another key (%v)", err)
	}
	if info, _ := os.Stat(name); info.Mode().Perm() != SecretMode {
		t.Fatalf("mode %v not tightened to %v", info.Mode().Perm(), SecretMode)
	}
	if _, err := LoadOrCreateKey(name, 16); err == nil {
		t.Fatal("a key of the wrong size was accepted")
	}
}
