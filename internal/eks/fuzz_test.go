package eks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// checkModeledError fails unless e is a modeled client error: a known type
// with its model status (4xx), a message, and fields that encode as JSON.
func checkModeledError(t *testing.T, what string, e *Error) {
	t.Helper()
	if e.Type == "" || e.Message == "" {
		t.Fatalf("%s: error without type or message: %#v", what, e)
	}
	if e.Status < 400 || e.Status > 499 {
		t.Fatalf("%s: status %d is not 4xx: %#v", what, e.Status, e)
	}
	if want, ok := errorStatus[e.Type]; !ok || want != e.Status {
		t.Fatalf("%s: %s with status %d, the model says %d", what, e.Type, e.Status, want)
	}
	if _, err := json.Marshal(e.Fields); err != nil {
		t.Fatalf("%s: fields do not encode: %v", what, err)
	}
}

// createSeeds are valid and malformed CreateCluster bodies.
var createSeeds = []string{
	fullCreateBody,
	minimalCreateBody,
	``,
	`{`,
	`[]`,
	`null`,
	`"name"`,
	`{"name":5}`,
	`{"name":"a","roleArn":null,"resourcesVpcConfig":{}}`,
	`{"resourcesVpcConfig":{"subnetIds":"subnet-a"}}`,
	`{"name":"a","roleArn":"arn:aws:iam::111122223333:role/r","resourcesVpcConfig":{"subnetIds":["subnet-a","subnet-d"]}}`,
	`{"name":"a","roleArn":"arn:aws:iam::111122223333:role/r","resourcesVpcConfig":{"subnetIds":["subnet-a","subnet-x"],"securityGroupIds":["sg-other"]}}`,
	`{"name":"a","roleArn":"arn:aws:iam::111122223333:role/r","resourcesVpcConfig":{"subnetIds":["subnet-a","subnet-b"],"publicAccessCidrs":["10.0.0.1/8","::/0"]},"kubernetesNetworkConfig":{"serviceIpv4Cidr":"172.31.0.0/24"}}`,
	`{"name":"a","roleArn":"arn:aws:iam::111122223333:role/r","resourcesVpcConfig":{"subnetIds":["subnet-a","subnet-b"]},"tags":{"aws:x":"y","ü":"\u00a0"},"encryptionConfig":[{"resources":["secrets"]}]}`,
	`{"name":"a","kubeApiServerConfig":{"serviceNodePortRange":{"minPort":1e40}}}`,
	`{"name":"\u0000","logging":{"clusterLogging":[{"types":[null,"api"]}]},"outpostConfig":{}}`,
	`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

func FuzzDecodeCreateCluster(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	network, lim := testNetwork(), testLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		var req shapes.CreateClusterRequest
		if err := decodeBody(body, &req); err != nil {
			checkModeledError(t, "decodeBody", err)
			return
		}
		err := validateCreateCluster(&req, network, lim)
		if again := validateCreateCluster(&req, network, lim); !reflect.DeepEqual(err, again) {
			t.Fatalf("validation is not deterministic: %v, then %v", err, again)
		}
		if err != nil {
			checkModeledError(t, "validateCreateCluster", err)
			return
		}
		// What the CreateCluster handler relies on once validation passed.
		if !clusterNameRE.MatchString(req.Name) || len(req.Name) > clusterNameMaxLen || req.RoleArn == "" {
			t.Fatalf("accepted name %q, roleArn %q", req.Name, req.RoleArn)
		}
		v := req.ResourcesVpcConfig
		if v == nil || len(v.SubnetIDs) < minSubnets || len(v.SubnetIDs) > maxSubnets {
			t.Fatalf("accepted resourcesVpcConfig %+v", v)
		}
		first, ok := network.Subnet(v.SubnetIDs[0])
		for _, id := range v.SubnetIDs {
			s, found := network.Subnet(id)
			if !ok || !found || s.VpcID != first.VpcID || slices.Contains(lim.UnsupportedZones, s.AvailabilityZone) {
				t.Fatalf("accepted subnets %v", v.SubnetIDs)
			}
		}
		for _, id := range v.SecurityGroupIDs {
			if g, found := network.SecurityGroup(id); !found || g.VpcID != first.VpcID {
				t.Fatalf("accepted security groups %v", v.SecurityGroupIDs)
			}
		}
		if len(req.Tags) > lim.MaxTags || len(req.EncryptionConfig) > maxEncryptionConfigs {
			t.Fatalf("accepted %d tags, %d encryption configs", len(req.Tags), len(req.EncryptionConfig))
		}
	})
}

// tagOracle is an independent statement of the tag rules.
var tagCharsRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func tagsOK(tags map[string]string, most int) bool {
	if len(tags) > most {
		return false
	}
	for k, v := range tags {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 || utf8.RuneCountInString(v) > 256 {
			return false
		}
		if len(k) >= 4 && asciiLower(k[:4]) == "aws:" {
			return false
		}
		if !tagCharsRE.MatchString(k) || !tagCharsRE.MatchString(v) {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func FuzzValidateTags(f *testing.F) {
	f.Add("env", "prod", uint8(0))
	f.Add("team/owner", "a.b_c:d/e=f+g-h@i j", uint8(3))
	f.Add("aws:foo", "x", uint8(0))
	f.Add("AwS:foo", "x", uint8(0))
	f.Add("", "x", uint8(1))
	f.Add("k", "#", uint8(0))
	f.Add("Ünïcödé 名前", "värde\u00a0١٢٣", uint8(49))
	f.Add("k", "v", uint8(50))
	f.Add("a\tb", "v", uint8(0))
	f.Add("k\xff", "v", uint8(0))
	lim := testLimits()
	f.Fuzz(func(t *testing.T, key, value string, extra uint8) {
		tags := map[string]string{key: value}
		for i := range int(extra) % 64 {
			tags[fmt.Sprintf("k%d", i)] = "v"
		}
		err := validateTags(tags, lim)
		if err != nil {
			checkModeledError(t, "validateTags", err)
			if err.Type != InvalidParameter || err.Status != http.StatusBadRequest {
				t.Fatalf("validateTags returned %s %d", err.Type, err.Status)
			}
		}
		if want := tagsOK(tags, lim.MaxTags); (err == nil) != want {
			t.Fatalf("validateTags(%q) = %v; the rules say valid=%t", tags, err, want)
		}
		keyErr := validateTagKeys([]string{key})
		if keyErr != nil {
			checkModeledError(t, "validateTagKeys", keyErr)
		}
	})
}
