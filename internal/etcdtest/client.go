package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Client connects to endpoints (every member when none are given) presenting
// the client pair certFile/keyFile; it is closed in tb.Cleanup.
func (c *Cluster) Client(certFile, keyFile string, endpoints ...string) *clientv3.Client {
	c.tb.Helper()
	cli, err := c.dial(certFile, keyFile, endpoints...)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.tb.Cleanup(func() { cli.Close() })
	return cli
}

func (c *Cluster) dial(certFile, keyFile string, endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
	})
}

// Healthy checks, as the user of certFile/keyFile (which must be allowed to
// write key), that every member is running, agrees on one leader, and has
// applied a write made through the cluster just now: a member that rejoined
// has caught up.
func (c *Cluster) Healthy(ctx context.Context, certFile, keyFile, key string) error {
	all, err := c.dial(certFile, keyFile)
	if err != nil {
		return err
	}
	defer all.Close()
	put, err := all.Put(ctx, key, time.Now().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("write through the cluster: %w", err)
	}
	var leader uint64
	for _, m := range c.Members {
		if !m.running() {
			return fmt.Errorf("%s is stopped", m.Name)
		}
		one, err := c.dial(certFile, keyFile, m.ClientURL.String())
		if err != nil {
			return err
		}
		err = memberHealthy(ctx, one, m, key, put.Header.Revision, &leader)
		one.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func memberHealthy(ctx context.Context, cli *clientv3.Client, m *Member, key string, rev int64, leader *uint64) error {
	st, err := cli.Status(ctx, m.ClientURL.String())
	if err != nil {
		return fmt.Errorf("%s: status: %w", m.Name, err)
	}
	if len(st.Errors) > 0 {
		return fmt.Errorf("%s: %v", m.Name, st.Errors)
	}
	if st.Leader == 0 || (*leader != 0 && st.Leader != *leader) {
		return fmt.Errorf("%s: leader %x, others say %x", m.Name, st.Leader, *leader)
	}
	*leader = st.Leader
	// A serializable read is answered from the member's own state.
	got, err := cli.Get(ctx, key, clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("%s: serializable read: %w", m.Name, err)
	}
	if got.Header.Revision < rev {
		return fmt.Errorf("%s: at revision %d, the cluster at %d", m.Name, got.Header.Revision, rev)
	}
	return nil
}

// Leader returns the index of the member that leads the cluster now, asking
// as the user of certFile/keyFile.
func (c *Cluster) Leader(ctx context.Context, certFile, keyFile string) (int, error) {
	cli, err := c.dial(certFile, keyFile)
	if err != nil {
		return -1, err
	}
	defer cli.Close()
	for i, m := range c.Members {
		if !m.running() {
			continue
		}
		st, err := cli.Status(ctx, m.ClientURL.String())
		if err != nil {
			continue
		}
		if st.Header.MemberId == st.Leader {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no running member leads")
}
