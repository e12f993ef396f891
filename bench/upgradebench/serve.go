package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/kplane/kplane/internal/auth"
)

// serve is the `kplane serve` the benchmark runs (default replicas: two per
// cluster, one per zone), on a data dir of its own.
type serve struct {
	bin, dataDir, logPath, url string
	cmd                        *exec.Cmd
	done                       chan struct{}
	eks                        *eks.Client
}

func startServe(ctx context.Context, bin, dir string) (*serve, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &serve{bin: bin, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "serve.log"), url: "http://" + addr, done: make(chan struct{})}
	lf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	s.cmd = exec.Command(bin, "serve", "--data-dir", s.dataDir, "--listen", addr, "--no-nodes")
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	// Its own process group, and SIGKILL if the benchmark dies (its
	// control planes follow it by their own Pdeathsig).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	logf("kplane serve pid %d on %s", s.cmd.Process.Pid, s.url)
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(90 * time.Second); ; {
		if resp, err := client.Get(s.url + "/_kplane/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("kplane serve exited before it was ready; see %s", s.logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("kplane serve not ready after 90s")
		}
	}
	akid, secret, err := auth.ReadCredentialsFile(filepath.Join(s.dataDir, "credentials"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.eks = eks.New(eks.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(s.url),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
	})
	return s, nil
}

// stop sends SIGTERM (kplane stops its control planes) and waits, then
// SIGKILLs the group if it is still there after a minute.
func (s *serve) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	if err := leftovers(s.dataDir); err != nil {
		logf("%v", err)
	}
}

func (s *serve) kplane(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, s.bin, append(args, "--data-dir", s.dataDir)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("kplane %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
	}
	return string(out), err
}
