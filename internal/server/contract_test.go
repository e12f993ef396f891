package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/kplane/kplane/internal/server"
)

func TestAuthenticationFailures(t *testing.T) {
	s := startServer(t, nil)
	req, _ := http.NewRequest("GET", s.URL+"/clusters", nil)
	expectError(t, s.send(req), "MissingAuthenticationTokenException", 403)

	req, _ = http.NewRequest("GET", s.URL+"/clusters", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE00/20260101/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	got := s.send(req)
	if got.Status != 403 {
		t.Fatalf("forged request: %d %v", got.Status, got.Body)
	}

	wrong := eks.New(eks.Options{Region: s.Region, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: aws.NewCredentialsCache(staticCreds(s.Root.AccessKeyID, "not-the-secret"))})
	_, err := wrong.ListClusters(context.Background(), &eks.ListClustersInput{})
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("wrong secret: %v", err)
	}
	unknown := eks.New(eks.Options{Region: s.Region, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: aws.NewCredentialsCache(staticCreds("AKIAUNKNOWNUNKNOWN00", "x"))})
	_, err = unknown.ListClusters(context.Background(), &eks.ListClustersInput{})
	if err == nil || !strings.Contains(err.Error(), "UnrecognizedClientException") {
		t.Errorf("unknown key: %v", err)
	}
	otherRegion := eks.New(eks.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1, Credentials: s.creds()})
	_, err = otherRegion.ListClusters(context.Background(), &eks.ListClustersInput{})
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("other region: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	s := startServer(t, nil)
	expectError(t, s.raw("GET", "/no/such/route", ""), "NotFoundException", 404)
	got := s.raw("POST", "/clusters/x/fargate-profiles", `{}`)
	expectError(t, got, "InvalidRequestException", 400)
	if !strings.Contains(got.Body["message"].(string), "CreateFargateProfile") {
		t.Errorf("unsupported operation message %q does not name it", got.Body["message"])
	}
	expectError(t, s.raw("PUT", "/clusters", ``), "BadRequestException", 400)
	resp, err := http.Get(s.URL + server.InternalPrefix + "readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
}

// createBody is a valid CreateCluster body with one member replaced.
func (s *testServer) createBody(name, extra string) string {
	body := fmt.Sprintf(`{"name":%q,"roleArn":%q,"resourcesVpcConfig":{"subnetIds":["%s"]}`, name, testRole, strings.Join(s.subnets(), `","`))
	if extra != "" {
		body += "," + extra
	}
	return body + "}"
}

func TestCreateClusterValidation(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.UnsupportedZones = []string{"us-west-2c"} })
	n, _ := s.Store.Network(context.Background())
	subnetA, subnetB, subnetC := n.Subnets[0].ID, n.Subnets[1].ID, n.Subnets[2].ID
	sg := n.SecurityGroups[0].ID
	vpc := func(v string) string { return `"resourcesVpcConfig":` + v }
	raw := func(name, rest string) string {
		return fmt.Sprintf(`{"name":%q,"roleArn":%q,%s}`, name, testRole, rest)
	}
	subnets := fmt.Sprintf(`{"subnetIds":[%q,%q]}`, subnetA, subnetB)
	cases := []struct {
		name, body, typ string
	}{
		{"no name", fmt.Sprintf(`{"roleArn":%q,%s}`, testRole, vpc(subnets)), "InvalidParameterException"},
		{"bad name", raw("-bad", vpc(subnets)), "InvalidParameterException"},
		{"long name", raw(strings.Repeat("a", 101), vpc(subnets)), "InvalidParameterException"},
		{"no role", fmt.Sprintf(`{"name":"x",%s}`, vpc(subnets)), "InvalidParameterException"},
		{"bad role", fmt.Sprintf(`{"name":"x","roleArn":"arn:aws:iam::123:user/x",%s}`, vpc(subnets)), "InvalidParameterException"},
		{"no vpc config", `{"name":"x","roleArn":"` + testRole + `"}`, "InvalidParameterException"},
		{"one subnet", raw("x", vpc(fmt.Sprintf(`{"subnetIds":[%q]}`, subnetA))), "InvalidParameterException"},
		{"unknown subnet", raw("x", vpc(fmt.Sprintf(`{"subnetIds":[%q,"subnet-0000000000000000f"]}`, subnetA))), "InvalidParameterException"},
		{"six security groups", raw("x", vpc(fmt.Sprintf(`{"subnetIds":[%q,%q],"securityGroupIds":[%q,%q,%q,%q,%q,%q]}`, subnetA, subnetB, sg, sg, sg, sg, sg, sg))), "InvalidParameterException"},
		{"unknown security group", raw("x", vpc(fmt.Sprintf(`{"subnetIds":[%q,%q],"securityGroupIds":["sg-0000000000000000f"]}`, subnetA, subnetB))), "InvalidParameterException"},
		{"bad version", raw("x", vpc(subnets)+`,"version":"1.10"`), "InvalidParameterException"},
		{"aws: tag", raw("x", vpc(subnets)+`,"tags":{"aws:x":"y"}`), "InvalidParameterException"},
		{"long tag key", raw("x", vpc(subnets)+`,"tags":{"`+strings.Repeat("k", 129)+`":"y"}`), "InvalidParameterException"},
		{"long tag value", raw("x", vpc(subnets)+`,"tags":{"k":"`+strings.Repeat("v", 257)+`"}`), "InvalidParameterException"},
		{"bad public cidr", raw("x", vpc(fmt.Sprintf(`{"subnetIds":[%q,%q],"publicAccessCidrs":["300.0.0.0/8"]}`, subnetA, subnetB))), "InvalidParameterException"},
		{"bad service cidr", raw("x", vpc(subnets)+`,"kubernetesNetworkConfig":{"serviceIpv4Cidr":"8.8.0.0/16"}`), "InvalidParameterException"},
		{"two encryption configs", raw("x", vpc(subnets)+`,"encryptionConfig":[{"resources":["secrets"],"provider":{"keyArn":"arn:aws:kms:us-west-2:000000000000:key/1"}},{"resources":["secrets"],"provider":{"keyArn":"arn:aws:kms:us-west-2:000000000000:key/2"}}]`), "InvalidParameterException"},
		{"encryption of configmaps", raw("x", vpc(subnets)+`,"encryptionConfig":[{"resources":["configmaps"],"provider":{"keyArn":"arn:aws:kms:us-west-2:000000000000:key/1"}}]`), "InvalidParameterException"},
		{"bad log type", raw("x", vpc(subnets)+`,"logging":{"clusterLogging":[{"types":["nope"],"enabled":true}]}`), "InvalidParameterException"},
		{"malformed json", `{"name":`, "BadRequestException"},
		{"wrong json type", `{"name":5}`, "BadRequestException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectError(t, s.raw("POST", "/clusters", c.body), c.typ, 400)
		})
	}
	got := s.raw("POST", "/clusters", raw("zoned", vpc(fmt.Sprintf(`{"subnetIds":[%q,%q]}`, subnetA, subnetC))))
	expectError(t, got, "UnsupportedAvailabilityZoneException", 400)
	zones, _ := got.Body["validZones"].([]any)
	if len(zones) != 2 || zones[0] != "us-west-2a" || zones[1] != "us-west-2b" || got.Body["clusterName"] != "zoned" {
		t.Errorf("unsupported zone body %v", got.Body)
	}
	list, _ := s.eks.ListClusters(context.Background(), &eks.ListClustersInput{})
	if len(list.Clusters) != 0 {
		t.Errorf("invalid requests created clusters: %v", list.Clusters)
	}
}

func TestParallelCreatesOfOneName(t *testing.T) {
	s := startServer(t, nil)
	body := s.createBody("race", "")
	var wg sync.WaitGroup
	results := make([]rawResponse, 50)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = s.raw("POST", "/clusters", body) }()
	}
	wg.Wait()
	ok, inUse := 0, 0
	for _, r := range results {
		switch {
		case r.Status == 200:
			ok++
		case r.Status == 409 && r.ErrorType == "ResourceInUseException":
			inUse++
		default:
			t.Errorf("unexpected answer %d %s %v", r.Status, r.ErrorType, r.Body)
		}
	}
	if ok != 1 || inUse != 49 {
		t.Errorf("%d created, %d ResourceInUseException; want 1 and 49", ok, inUse)
	}
}

func TestParallelRetriesOfOneToken(t *testing.T) {
	s := startServer(t, nil)
	body := s.createBody("retry", `"clientRequestToken":"tok-20"`)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.raw("POST", "/clusters", body)
			if r.Status != 200 {
				t.Errorf("retry %d: %d %s %v", i, r.Status, r.ErrorType, r.Body)
				return
			}
			ids[i], _ = r.Body["cluster"].(map[string]any)["id"].(string)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("retries got different clusters: %v", ids)
		}
	}
	list, _ := s.eks.ListClusters(context.Background(), &eks.ListClustersInput{})
	if len(list.Clusters) != 1 {
		t.Errorf("clusters %v, want one", list.Clusters)
	}
}
