// Package load is the load generator shared by the benchmarks under bench/:
// an HTTP client that SigV4-signs every request afresh with aws-sdk-go-v2's
// signer (as the AWS SDKs and CLI do), a closed-loop driver, and latency
// statistics.
package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Target is one EKS endpoint and the credentials to sign for it.
type Target struct {
	Name    string // "kplane", "moto"
	BaseURL string // http://127.0.0.1:PORT
	Region  string
	Creds   aws.Credentials
	HTTP    *http.Client
	signer  *v4.Signer
}

// NewTarget returns a Target whose client keeps up to conns idle keep-alive
// connections to the endpoint, so a closed loop of conns workers never redials.
func NewTarget(name, baseURL, region string, creds aws.Credentials, conns int) *Target {
	return &Target{
		Name: name, BaseURL: baseURL, Region: region, Creds: creds,
		HTTP:   &http.Client{Transport: NewTransport(conns), Timeout: 2 * time.Minute},
		signer: v4.NewSigner(),
	}
}

// NewTransport is an http.Transport tuned for a loopback benchmark: plain
// HTTP/1.1 keep-alive, enough idle connections per host for every worker, no
// proxy, no compression.
func NewTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// Response is a request's outcome. Latency runs from handing the signed
// request to the transport until the body has been read: signing is not in it.
type Response struct {
	Status  int
	Body    []byte // nil unless asked for
	Latency time.Duration
}

// Do signs method+path (path includes any query string) with SigV4 for
// service "eks", sends it and reads the whole answer. keepBody keeps the body
// in Response.Body; otherwise it is read and discarded.
func (t *Target) Do(ctx context.Context, method, path string, body []byte, keepBody bool) (Response, error) {
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	return t.Call(ctx, "eks", method, path, ct, body, keepBody)
}

// Call is Do for any service's signing name and content type.
func (t *Target) Call(ctx context.Context, service, method, path, contentType string, body []byte, keepBody bool) (Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.BaseURL+path, rd)
	if err != nil {
		return Response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	// Sign fresh, as an SDK does for every call: hash the payload, stamp the time.
	sum := sha256.Sum256(body)
	if err := t.signer.SignHTTP(ctx, t.Creds, req, hex.EncodeToString(sum[:]), service, t.Region, time.Now()); err != nil {
		return Response{}, fmt.Errorf("sign: %w", err)
	}
	start := time.Now()
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	var out []byte
	if keepBody {
		out, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return Response{}, fmt.Errorf("read body: %w", err)
	}
	return Response{Status: resp.StatusCode, Body: out, Latency: lat}, nil
}

// Close drops the target's idle connections.
func (t *Target) Close() { t.HTTP.CloseIdleConnections() }
