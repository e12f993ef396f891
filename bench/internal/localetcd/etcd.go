// Package localetcd runs a throwaway single-member etcd inside a benchmark's
// process, for control planes started without kplane serve.
package localetcd

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/kplane/kplane/internal/controlplane"
)

// Start runs a fresh single-member etcd in this process: plain HTTP on
// free loopback ports, data in dir (fsync on, as kplane's embedded etcd).
// It returns the client URL and a function that stops it.
func Start(dir string) (string, func(), error) {
	cport, err := controlplane.AllocatePort()
	if err != nil {
		return "", nil, err
	}
	pport, err := controlplane.AllocatePort()
	if err != nil {
		return "", nil, err
	}
	ec := embed.NewConfig()
	ec.Name = "floor"
	ec.Dir = dir
	ec.LogLevel = "fatal"
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cport)}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pport)}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.ListenMetricsUrls = nil
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return "", nil, fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return "", nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return "", nil, errors.New("etcd not ready after 60s")
	}
	return cu.String(), e.Close, nil
}
