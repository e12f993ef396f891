package eks

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/kplane/kplane/internal/eks/shapes"
)

func TestDecodeBody(t *testing.T) {
	br := BadRequest
	for _, tc := range []struct {
		name, body string
		msg        string // "" means it decodes
		check      func(*shapes.CreateClusterRequest) bool
	}{
		{name: "empty", body: "", check: func(r *shapes.CreateClusterRequest) bool { return reflect.DeepEqual(*r, shapes.CreateClusterRequest{}) }},
		{name: "whitespace", body: " \r\n\t", check: func(r *shapes.CreateClusterRequest) bool { return r.Name == "" }},
		{name: "null", body: "null", check: func(r *shapes.CreateClusterRequest) bool { return r.Name == "" }},
		{name: "unknown members", body: `{"name":"a","newMember":{"deep":[1,2,{"x":null}]},"resourcesVpcConfig":{"subnetIds":["s"],"futureFlag":true}}`,
			check: func(r *shapes.CreateClusterRequest) bool {
				return r.Name == "a" && len(r.ResourcesVpcConfig.SubnetIDs) == 1
			}},
		{name: "null members", body: `{"name":"a","tags":null,"logging":null}`, check: func(r *shapes.CreateClusterRequest) bool { return r.Tags == nil && r.Logging == nil }},
		{name: "full", body: fullCreateBody, check: func(r *shapes.CreateClusterRequest) bool {
			return r.KubeSchedulerConfig.NodeResourcesFit.ScoringStrategy.Resources[0].Weight == 1 && *r.ResourcesVpcConfig.EndpointPrivateAccess
		}},
		{name: "truncated", body: `{"name":"a"`, msg: "could not be parsed as JSON"},
		{name: "not JSON", body: `name=a`, msg: "could not be parsed as JSON"},
		{name: "trailing garbage", body: `{"name":"a"} x`, msg: "could not be parsed as JSON"},
		{name: "two objects", body: `{}{}`, msg: "could not be parsed as JSON"},
		{name: "array", body: `[]`, msg: "could not be parsed: expected a JSON object, got a list"},
		{name: "string", body: `"x"`, msg: "expected a JSON object, got a string"},
		{name: "name a number", body: `{"name":5}`, msg: "member 'name' must be a string, got a number"},
		{name: "subnetIds a string", body: `{"resourcesVpcConfig":{"subnetIds":"subnet-a"}}`, msg: "member 'resourcesVpcConfig.subnetIds' must be a list, got a string"},
		{name: "flag a string", body: `{"resourcesVpcConfig":{"endpointPublicAccess":"true"}}`, msg: "member 'resourcesVpcConfig.endpointPublicAccess' must be a boolean, got a string"},
		{name: "tags a list", body: `{"tags":["a"]}`, msg: "member 'tags' must be an object, got a list"},
		{name: "tag value a number", body: `{"tags":{"k":1}}`, msg: "must be a string, got a number"},
		{name: "port a fraction", body: `{"kubeApiServerConfig":{"serviceNodePortRange":{"minPort":1.5}}}`, msg: "must be an integer, got a number 1.5"},
		{name: "port too large", body: `{"kubeApiServerConfig":{"serviceNodePortRange":{"minPort":1e40}}}`, msg: "must be an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req shapes.CreateClusterRequest
			err := decodeBody([]byte(tc.body), &req)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("decodeBody: %v", err)
				}
				if !tc.check(&req) {
					t.Errorf("decoded %+v", req)
				}
				return
			}
			checkError(t, err, br, tc.msg, noFields, "")
		})
	}
	var notPointer shapes.CreateClusterRequest
	if err := decodeBody([]byte(`{}`), notPointer); err == nil || err.Status != http.StatusInternalServerError {
		t.Errorf("decoding into a non-pointer: %v", err)
	}
}
