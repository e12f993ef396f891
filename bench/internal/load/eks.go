package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// BenchRole is the role ARN the benchmarks' clusters are created with.
const (
	BenchRole     = "arn:aws:iam::000000000000:role/" + benchRoleName
	benchRoleName = "eks"
)

// EnsureRole creates BenchRole with IAM CreateRole (query protocol, signed
// for "iam"), as `aws iam create-role` would: kplane's CreateCluster wants the
// cluster role to exist. A role that already exists is fine.
func (t *Target) EnsureRole(ctx context.Context) error {
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"},
		"RoleName": {benchRoleName}, "AssumeRolePolicyDocument": {trust}}
	r, err := t.Call(ctx, "iam", "POST", "/", "application/x-www-form-urlencoded; charset=utf-8", []byte(form.Encode()), true)
	if err != nil {
		return fmt.Errorf("%s: iam CreateRole: %w", t.Name, err)
	}
	if r.Status != 200 && !strings.Contains(string(r.Body), "EntityAlreadyExists") {
		return fmt.Errorf("%s: iam CreateRole: HTTP %d: %s", t.Name, r.Status, snippet(r.Body))
	}
	return nil
}

// DescribeOp is one DescribeCluster call (GET /clusters/NAME), for Closed.
func (t *Target) DescribeOp(name string) func(ctx context.Context) (time.Duration, int, error) {
	path := "/clusters/" + url.PathEscape(name)
	return func(ctx context.Context) (time.Duration, int, error) {
		r, err := t.Do(ctx, "GET", path, nil, false)
		return r.Latency, r.Status, err
	}
}

// CreateResult is how one CreateCluster went.
type CreateResult struct {
	Latency time.Duration  // of the successful attempt
	Retries int            // throttled, 5xx or failed attempts before it
	Reasons map[string]int // why they were retried
}

// CreateCluster creates a cluster as the SDKs do: with a clientRequestToken
// (EKS's idempotency token, which the SDKs fill in themselves), retrying
// throttling, server errors and transport errors with a short backoff (up to
// 10 attempts). The token makes a retry of a create that did succeed, say
// after a client timeout, answer with that cluster instead of "already exists".
func (t *Target) CreateCluster(ctx context.Context, name string, subnets []string) (CreateResult, error) {
	body, _ := json.Marshal(map[string]any{
		"name":               name,
		"roleArn":            BenchRole,
		"resourcesVpcConfig": map[string]any{"subnetIds": subnets},
		"clientRequestToken": uuid.NewString(),
	})
	var res CreateResult
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r, err := t.Do(ctx, "POST", "/clusters", body, true)
		switch {
		case err == nil && r.Status == 200:
			res.Latency = r.Latency
			return res, nil
		case err == nil && r.Status != 429 && r.Status < 500:
			return res, fmt.Errorf("%s: CreateCluster %s (attempt %d): HTTP %d: %s", t.Name, name, attempt, r.Status, snippet(r.Body))
		case attempt == 10:
			if err == nil {
				err = fmt.Errorf("HTTP %d: %s", r.Status, snippet(r.Body))
			}
			return res, fmt.Errorf("%s: CreateCluster %s: giving up after %d attempts: %w", t.Name, name, attempt, err)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		reason := ""
		if err != nil {
			reason = errKind(err)
		} else {
			reason = fmt.Sprintf("HTTP %d", r.Status)
		}
		if res.Reasons == nil {
			res.Reasons = map[string]int{}
		}
		res.Reasons[reason]++
		res.Retries++
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
}

// ListPage is one ListClusters answer.
type ListPage struct {
	Clusters  []string `json:"clusters"`
	NextToken string   `json:"nextToken"`
	Latency   time.Duration
}

// ListClusters fetches one page of GET /clusters?maxResults=N[&nextToken=T].
func (t *Target) ListClusters(ctx context.Context, maxResults int, nextToken string) (ListPage, error) {
	path := fmt.Sprintf("/clusters?maxResults=%d", maxResults)
	if nextToken != "" {
		path += "&nextToken=" + url.QueryEscape(nextToken)
	}
	r, err := t.Do(ctx, "GET", path, nil, true)
	if err != nil {
		return ListPage{}, err
	}
	if r.Status != 200 {
		return ListPage{}, fmt.Errorf("%s: ListClusters: HTTP %d: %s", t.Name, r.Status, snippet(r.Body))
	}
	var p ListPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return ListPage{}, fmt.Errorf("%s: ListClusters: %w: %s", t.Name, err, snippet(r.Body))
	}
	p.Latency = r.Latency
	return p, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
