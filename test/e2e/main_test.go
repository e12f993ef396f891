//go:build e2e

// Package e2e drives a real kplane: the built binary, `kplane serve` as a
// separate process, the aws CLI and kubectl against it, and real control
// planes (kube-apiserver, controller-manager, scheduler) behind every cluster.
//
//	make e2e    # or: go test -tags e2e -count=1 -v ./test/e2e/
//
// The e2e build tag keeps these tests out of `go test ./...`, which needs
// nothing but Go. Needs go, the aws CLI and kubectl on PATH. KPLANE_E2E_BIN=/path/to/kplane
// skips the build and tests that binary instead.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	// kplaneBin is the kplane binary under test.
	kplaneBin string
	// goEnv keeps Go's caches where they were when tools run with another HOME.
	goEnv []string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	for _, tool := range []string{"go", "aws", "kubectl"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s is not on PATH: %v\n", tool, err)
			return 1
		}
	}
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go env: %v\n", err)
		return 1
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, name := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		if i < len(vals) && vals[i] != "" {
			goEnv = append(goEnv, name+"="+vals[i])
		}
	}

	kplaneBin = os.Getenv("KPLANE_E2E_BIN")
	if kplaneBin == "" {
		dir, err := os.MkdirTemp("", "kplane-e2e-bin-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		kplaneBin = filepath.Join(dir, "kplane")
		start := time.Now()
		build := exec.Command("go", "build", "-o", kplaneBin, "github.com/kplane/kplane/cmd/kplane")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building kplane: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: built kplane in %v\n", time.Since(start).Round(time.Millisecond))
		if err := buildMinorPrograms(dir); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

// buildMinorPrograms builds each older Kubernetes minor's program
// (k8s/v1.NN, docs/versions.md, build tag k8s1.NN) into dir beside kplane, as
// `make build` does, under nice: a Kubernetes compile takes both cores for
// minutes.
func buildMinorPrograms(dir string) error {
	modules, _ := filepath.Glob("../../k8s/v1.*")
	for _, m := range modules {
		minor := strings.TrimPrefix(filepath.Base(m), "v")
		start := time.Now()
		build := exec.Command("nice", "-n", "10", "go", "build", "-tags", "k8s"+minor, "-o", filepath.Join(dir, "kplane-k8s-"+minor), ".")
		build.Dir = m
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building kplane-k8s-%s: %v", minor, err)
		}
		fmt.Fprintf(os.Stderr, "e2e: built kplane-k8s-%s in %v\n", minor, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
