package nodejoin

import (
	"strings"
	"testing"
)

// The node's address is the one this host reaches the endpoint from unless
// given; its name is EC2's private DNS name of it; its pod range follows
// from its last two bytes.
func TestIdentify(t *testing.T) {
	cfg := Config{Endpoint: "http://127.0.0.1:4599", Region: "us-west-2"}
	if err := identify(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.NodeIP != "127.0.0.1" || cfg.NodeName != "ip-127-0-0-1.us-west-2.compute.internal" || cfg.PodCIDR != "100.64.1.0/24" {
		t.Errorf("from the endpoint: %+v", cfg)
	}
	cfg = Config{Endpoint: "http://kplane.example:4599", Region: "us-east-1", NodeIP: "10.213.70.58"}
	if err := identify(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "ip-10-213-70-58.ec2.internal" || cfg.PodCIDR != "100.70.58.0/24" {
		t.Errorf("given: %+v", cfg)
	}
	cfg = Config{Endpoint: "http://127.0.0.1:4599", Region: "us-west-2", NodeIP: "fe80::1", NodeName: "mine"}
	if err := identify(&cfg); err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Errorf("IPv6 node address: %v", err)
	}
	if err := identify(&Config{Endpoint: "not a url", Region: "us-west-2"}); err == nil {
		t.Error("a bad endpoint was taken")
	}
}
