package load

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

// Serve is a `kplane serve` a benchmark runs on a data dir of its own, with
// an EKS client signed with its root credentials.
type Serve struct {
	Bin, DataDir, LogPath, URL string
	Cmd                        *exec.Cmd
	Done                       chan struct{} // closed when the process has exited
	Creds                      aws.Credentials
	EKS                        *eks.Client
}

// Region is the region the benchmarks' clients sign for.
const Region = "us-west-2"

// StartServe starts `BIN serve --data-dir DIR/data --listen ADDR ARGS...` on
// a free loopback port, its output in DIR/serve.log, and waits up to 90 s
// for /_kplane/readyz.
func StartServe(ctx context.Context, bin, dir string, logf func(string, ...any), args ...string) (*Serve, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &Serve{Bin: bin, DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "serve.log"), URL: "http://" + addr, Done: make(chan struct{})}
	lf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	s.Cmd = exec.Command(bin, append([]string{"serve", "--data-dir", s.DataDir, "--listen", addr}, args...)...)
	s.Cmd.Stdout, s.Cmd.Stderr = lf, lf
	// Its own process group, and SIGKILL if the benchmark dies (its
	// children follow it by their own Pdeathsig).
	s.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.Cmd.Wait(); close(s.Done) }()
	logf("kplane serve pid %d on %s", s.Cmd.Process.Pid, s.URL)
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	id, secret, err := auth.ReadCredentialsFile(filepath.Join(s.DataDir, "credentials"))
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Creds = aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	s.EKS = eks.New(eks.Options{
		Region: Region, BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
	return s, nil
}

func (s *Serve) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(90 * time.Second); ; {
		if resp, err := client.Get(s.URL + "/_kplane/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.Done:
			return fmt.Errorf("kplane serve exited before it was ready; see %s", s.LogPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("kplane serve not ready after 90s")
		}
	}
}

// Stop sends SIGTERM (kplane stops what it runs) and waits, then SIGKILLs
// the group if it is still there after a minute.
func (s *Serve) Stop() {
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.Done:
	case <-time.After(time.Minute):
		syscall.Kill(-s.Cmd.Process.Pid, syscall.SIGKILL)
		<-s.Done
	}
}

// Kplane runs `BIN ARGS... --data-dir DATA` (kplane kubeconfig, network...)
// and returns its standard output.
func (s *Serve) Kplane(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, s.Bin, append(args, "--data-dir", s.DataDir)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("kplane %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
	}
	return string(out), err
}
