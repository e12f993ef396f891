// Command authbench measures IAM authentication into a kplane cluster: the
// token webhook's latency (warm), and a Kubernetes GET with an `aws eks
// get-token` bearer token beside the same GET with the admin client
// certificate, in one invocation against one real cluster.
//
//	go run ./bench/authbench [-n 2000]
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 2000, "requests per measurement")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	work, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "kplane")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/kplane").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	data := filepath.Join(work, "data")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	serve := exec.Command(bin, "serve", "--data-dir", data, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() { serve.Process.Kill(); serve.Wait() }()
	if err := waitHTTP(url+"/_kplane/readyz", 30*time.Second); err != nil {
		return err
	}
	env := append(os.Environ(), "HOME="+work, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(data, "credentials"),
		"AWS_ENDPOINT_URL="+url, "AWS_DEFAULT_REGION=us-west-2")
	sh := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s %v: %v", name, args, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	subnets, err := sh(bin, "network", "--data-dir", data, "--subnet-ids")
	if err != nil {
		return err
	}
	if _, err := sh("aws", "eks", "create-cluster", "--name", "bench", "--role-arn", "arn:aws:iam::000000000000:role/eks-cluster-role",
		"--resources-vpc-config", "subnetIds="+subnets); err != nil {
		return err
	}
	var cluster struct {
		Cluster struct {
			ID, Status, Endpoint string
			CertificateAuthority struct{ Data string }
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for cluster.Cluster.Status != "ACTIVE" {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ACTIVE after 3 min")
		}
		time.Sleep(500 * time.Millisecond)
		out, err := sh("aws", "eks", "describe-cluster", "--name", "bench")
		if err != nil {
			return err
		}
		json.Unmarshal([]byte(out), &cluster)
	}
	c := cluster.Cluster
	tokOut, err := sh("aws", "eks", "get-token", "--cluster-name", "bench")
	if err != nil {
		return err
	}
	var ec struct{ Status struct{ Token string } }
	if err := json.Unmarshal([]byte(tokOut), &ec); err != nil {
		return err
	}
	ca, _ := base64.StdEncoding.DecodeString(c.CertificateAuthority.Data)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	pkiDir := filepath.Join(data, "clusters", c.ID, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "admin.crt"), filepath.Join(pkiDir, "admin.key"))
	if err != nil {
		return err
	}
	bearer := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	certClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	plain := &http.Client{}

	review, _ := json.Marshal(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]string{"token": ec.Status.Token}})
	webhook := measure(n, func() (int, error) {
		resp, err := plain.Post(url+"/_kplane/authn/"+c.ID, "application/json", bytes.NewReader(review))
		if err != nil {
			return 0, err
		}
		var tr struct{ Status struct{ Authenticated bool } }
		json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if !tr.Status.Authenticated {
			return 401, nil
		}
		return resp.StatusCode, nil
	})
	get := func(client *http.Client, token string) func() (int, error) {
		return func() (int, error) {
			req, _ := http.NewRequest("GET", c.Endpoint+"/api/v1/namespaces/default", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
	}
	// Interleave the two GETs in rounds so load from elsewhere hits both alike.
	var iamRuns, certRuns []result
	for round := 0; round < 4; round++ {
		iamRuns = append(iamRuns, measure(n/4, get(bearer, ec.Status.Token)))
		certRuns = append(certRuns, measure(n/4, get(certClient, "")))
	}
	iam, certR := merge(iamRuns), merge(certRuns)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("## IAM authentication (%s, %d cores, %s, load %s)\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), strings.Fields(string(load))[0])
	fmt.Println("| measurement | requests | errors | p50 | p90 | p99 | max |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range []struct {
		name string
		r    result
	}{
		{"token webhook, TokenReview (warm verified-token cache)", webhook},
		{"GET /api/v1/namespaces/default, bearer token from aws eks get-token", iam},
		{"GET /api/v1/namespaces/default, admin client certificate", certR},
	} {
		fmt.Printf("| %s | %d | %d | %s | %s | %s | %s |\n", r.name, len(r.r.d), r.r.errors, pct(r.r.d, 50), pct(r.r.d, 90), pct(r.r.d, 99), pct(r.r.d, 100))
	}
	fmt.Printf("\nAdded latency of IAM auth over client-certificate auth: p50 %s, p99 %s.\n",
		pct(iam.d, 50)-pct(certR.d, 50), pct(iam.d, 99)-pct(certR.d, 99))
	if webhook.errors+iam.errors+certR.errors > 0 {
		return fmt.Errorf("some requests failed")
	}
	return nil
}

type result struct {
	d      []time.Duration
	errors int
}

func measure(n int, call func() (int, error)) result {
	for i := 0; i < 50; i++ { // warm up connections and caches
		call()
	}
	r := result{d: make([]time.Duration, 0, n)}
	for i := 0; i < n; i++ {
		start := time.Now()
		code, err := call()
		if err != nil || code != http.StatusOK {
			r.errors++
			continue
		}
		r.d = append(r.d, time.Since(start))
	}
	return r
}

func merge(rs []result) result {
	var out result
	for _, r := range rs {
		out.d = append(out.d, r.d...)
		out.errors += r.errors
	}
	return out
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Microsecond)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(url string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}
