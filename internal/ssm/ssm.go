// Package ssm serves the part of AWS Systems Manager that EKS
// infrastructure code reads: the public parameters of the EKS node images
// (/aws/service/eks/optimized-ami/... and /aws/service/bottlerocket/...),
// with GetParameter, GetParameters and GetParametersByPath on the JSON 1.1
// protocol (AmazonSSM). There is one parameter set per Kubernetes version
// kplane offers; the values name what kplane's nodes run (a release version
// of the Kubernetes patch and its release date, and an image id derived
// from the parameter's name, since kplane's nodes boot no AMI).
package ssm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/awsjson"
)

// TargetPrefix is the X-Amz-Target prefix of SSM calls.
const TargetPrefix = "AmazonSSM"

// Version is one Kubernetes version kplane offers.
type Version struct {
	Minor       string // "1.37"
	Patch       string // "1.37.2"
	ReleaseDate time.Time
}

// Parameter is SSM's Parameter shape.
type Parameter struct {
	Name             string  `json:"Name"`
	Type             string  `json:"Type"`
	Value            string  `json:"Value"`
	Version          int     `json:"Version"`
	LastModifiedDate float64 `json:"LastModifiedDate"`
	ARN              string  `json:"ARN"`
	DataType         string  `json:"DataType"`
}

// Service holds the public parameters.
type Service struct {
	region string
	params map[string]Parameter
	names  []string // sorted
}

// New makes the parameters of versions for region.
func New(region string, versions []Version) *Service {
	s := &Service{region: region, params: map[string]Parameter{}}
	for _, v := range versions {
		release := v.Patch + "-" + v.ReleaseDate.Format("20060102")
		modified := float64(v.ReleaseDate.Unix())
		add := func(name, value, dataType string) {
			s.params[name] = Parameter{Name: name, Type: "String", Value: value, Version: 1, LastModifiedDate: modified,
				ARN: "arn:aws:ssm:" + region + "::parameter" + name, DataType: dataType}
		}
		image := func(base, imageName string) {
			id := imageID(base)
			add(base+"/image_id", id, "aws:ec2:image")
			add(base+"/image_name", imageName, "text")
			add(base+"/release_version", release, "text")
			doc, _ := json.Marshal(map[string]any{"image_id": id, "image_name": imageName, "release_version": release, "schema_version": "3"})
			add(base, string(doc), "text")
		}
		eks := "/aws/service/eks/optimized-ami/" + v.Minor
		for _, arch := range []string{"x86_64", "arm64"} {
			for _, flavor := range []string{"standard", "nvidia", "neuron"} {
				image(eks+"/amazon-linux-2023/"+arch+"/"+flavor+"/recommended",
					"amazon-eks-node-al2023-"+arch+"-"+flavor+"-"+v.Minor+"-v"+v.ReleaseDate.Format("20060102"))
			}
		}
		for _, variant := range []string{"amazon-linux-2", "amazon-linux-2-arm64", "amazon-linux-2-gpu"} {
			image(eks+"/"+variant+"/recommended", variant+"-eks-node-"+v.Minor+"-v"+v.ReleaseDate.Format("20060102"))
		}
		for _, arch := range []string{"x86_64", "arm64"} {
			base := "/aws/service/bottlerocket/aws-k8s-" + v.Minor + "/" + arch + "/latest"
			add(base+"/image_id", imageID(base), "aws:ec2:image")
			add(base+"/image_version", "1.30.0-"+release, "text")
		}
	}
	for name := range s.params {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s
}

func imageID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "ami-" + hex.EncodeToString(sum[:])[:17]
}

// Handler serves SSM's JSON 1.1 API, verifying SigV4 for "ssm" with v.
func (s *Service) Handler(v *auth.Verifier, requestID func(*http.Request) string) *awsjson.Service {
	return &awsjson.Service{
		SigningName: "ssm", TargetPrefix: TargetPrefix, Verifier: v, RequestID: requestID,
		InternalError: "InternalServerError", Resource: s.resource,
		Ops: map[string]awsjson.Op{
			"GetParameter":        s.getParameter,
			"GetParameters":       s.getParameters,
			"GetParametersByPath": s.getParametersByPath,
		},
	}
}

// resource is the parameter a call reads, for IAM (ssm:GetParameter on
// arn:aws:ssm:REGION::parameter/NAME for public parameters).
func (s *Service) resource(c *awsjson.Call) (string, map[string][]string) {
	var in struct{ Name, Path string }
	json.Unmarshal(c.Body, &in)
	name := in.Name + in.Path
	if !strings.HasPrefix(name, "/") {
		return "*", nil
	}
	return "arn:aws:ssm:" + s.region + "::parameter" + strings.TrimSuffix(name, "/"), nil
}

func notFound() *awsjson.Error {
	return &awsjson.Error{Type: "ParameterNotFound", Status: http.StatusBadRequest, Message: ""}
}

// lookup finds a parameter by name or by its ARN.
func (s *Service) lookup(name string) (Parameter, bool) {
	if rest, ok := strings.CutPrefix(name, "arn:aws:ssm:"+s.region+"::parameter"); ok {
		name = rest
	}
	p, ok := s.params[name]
	return p, ok
}

func (s *Service) getParameter(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		Name           *string
		WithDecryption *bool
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("name", in.Name != nil)
	if in.Name != nil {
		v.Length("name", *in.Name, 1, 2048)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	p, ok := s.lookup(*in.Name)
	if !ok {
		return nil, notFound()
	}
	return map[string]any{"Parameter": p}, nil
}

func (s *Service) getParameters(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		Names          []string
		WithDecryption *bool
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("names", in.Names != nil)
	if in.Names != nil && (len(in.Names) < 1 || len(in.Names) > 10) {
		v.Fail("names", "["+strings.Join(in.Names, ", ")+"]", "Member must have length less than or equal to 10")
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	found, invalid := []Parameter{}, []string{}
	for _, n := range in.Names {
		if p, ok := s.lookup(n); ok {
			found = append(found, p)
		} else {
			invalid = append(invalid, n)
		}
	}
	return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
}

func (s *Service) getParametersByPath(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		Path           *string
		Recursive      bool
		MaxResults     *int
		NextToken      *string
		WithDecryption *bool
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("path", in.Path != nil)
	if in.Path != nil {
		v.Length("path", *in.Path, 1, 2048)
	}
	v.Range("maxResults", in.MaxResults, 1, 10)
	if e := v.Err(); e != nil {
		return nil, e
	}
	path := strings.TrimSuffix(*in.Path, "/") + "/"
	limit := 10
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	after := ""
	if in.NextToken != nil {
		after = *in.NextToken
		if _, ok := s.params[after]; !ok {
			return nil, &awsjson.Error{Type: "InvalidNextToken", Status: http.StatusBadRequest, Message: "The specified token is not valid."}
		}
	}
	out := []Parameter{}
	next := ""
	for _, name := range s.names {
		if !strings.HasPrefix(name, path) || name <= after {
			continue
		}
		if !in.Recursive && strings.Contains(name[len(path):], "/") {
			continue
		}
		if len(out) == limit {
			next = out[len(out)-1].Name
			break
		}
		out = append(out, s.params[name])
	}
	res := map[string]any{"Parameters": out}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}
