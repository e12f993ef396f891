package server_test

import (
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/versions"
)

// The SSM parameters EKS infrastructure code reads for node images, with the
// aws CLI: per version kplane offers, ParameterNotFound otherwise, and
// refused (AccessDeniedException) for a user no policy allows.
func TestSSMParametersWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	e := newCLIEnv(t, s)
	minor := versions.BuiltInMinor()
	base := "/aws/service/eks/optimized-ami/" + minor + "/amazon-linux-2023/x86_64/standard/recommended"
	var got struct {
		Parameter struct{ Name, Type, Value, ARN, DataType string }
	}
	e.ok(&got, "default", "ssm", "get-parameter", "--name", base+"/release_version")
	if got.Parameter.Name != base+"/release_version" || got.Parameter.Type != "String" ||
		!strings.HasPrefix(got.Parameter.Value, versions.BuiltIn+"-") || got.Parameter.ARN != "arn:aws:ssm:"+s.Region+"::parameter"+base+"/release_version" {
		t.Fatalf("get-parameter release_version: %+v", got)
	}
	e.ok(&got, "default", "ssm", "get-parameter", "--name", base+"/image_id")
	if !strings.HasPrefix(got.Parameter.Value, "ami-") || got.Parameter.DataType != "aws:ec2:image" {
		t.Fatalf("get-parameter image_id: %+v", got)
	}
	e.ok(&got, "default", "ssm", "get-parameter", "--name", "/aws/service/bottlerocket/aws-k8s-"+minor+"/x86_64/latest/image_version")
	e.ok(&got, "default", "ssm", "get-parameter", "--name", "/aws/service/eks/optimized-ami/"+minor+"/amazon-linux-2/recommended/image_id")
	e.fails("An error occurred (ParameterNotFound) when calling the GetParameter operation", "default",
		"ssm", "get-parameter", "--name", "/aws/service/eks/optimized-ami/1.20/amazon-linux-2023/x86_64/standard/recommended/release_version")
	var many struct {
		Parameters        []struct{ Name string }
		InvalidParameters []string
	}
	e.ok(&many, "default", "ssm", "get-parameters", "--names", base+"/image_id", base+"/release_version", "/nope")
	if len(many.Parameters) != 2 || len(many.InvalidParameters) != 1 || many.InvalidParameters[0] != "/nope" {
		t.Fatalf("get-parameters: %+v", many)
	}
	var byPath struct{ Parameters []struct{ Name string } }
	e.ok(&byPath, "default", "ssm", "get-parameters-by-path", "--path", base)
	if len(byPath.Parameters) != 3 {
		t.Fatalf("get-parameters-by-path %s: %+v", base, byPath)
	}
	byPath.Parameters = nil
	// The CLI pages by itself: every parameter under the version, recursively.
	e.ok(&byPath, "default", "ssm", "get-parameters-by-path", "--path", "/aws/service/eks/optimized-ami/"+minor, "--recursive")
	if len(byPath.Parameters) != 36 {
		t.Fatalf("get-parameters-by-path --recursive: %d parameters", len(byPath.Parameters))
	}

	bob := e.user("bob")
	e.fails("(AccessDeniedException) when calling the GetParameter operation: User: "+bob+" is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:"+
		s.Region+"::parameter"+base+"/image_id because no identity-based policy allows the ssm:GetParameter action", "bob", "ssm", "get-parameter", "--name", base+"/image_id")
	e.ok(nil, "default", "iam", "attach-user-policy", "--user-name", "bob", "--policy-arn", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
	e.ok(nil, "bob", "ssm", "get-parameter", "--name", base+"/image_id")
}
