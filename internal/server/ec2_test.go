package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/kplane/kplane/internal/store"
)

// A /28 holds 11 usable addresses and a cluster takes one: the sixth cluster
// leaves five, and the seventh is refused with EKS's text. A retry of the
// sixth with its token still replays it.
func TestCreateClusterNeedsFreeAddresses(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	vpc := store.VPC{ID: store.NewResourceID("vpc"), CidrBlock: "10.9.0.0/16"}
	if _, err := s.Store.CreateVPC(ctx, vpc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, zone := range []string{"us-west-2a", "us-west-2b"} {
		sn := store.Subnet{ID: store.NewResourceID("subnet"), VpcID: vpc.ID, AvailabilityZone: zone, CidrBlock: fmt.Sprintf("10.9.%d.0/28", i)}
		if err := s.Store.CreateSubnet(ctx, sn); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sn.ID)
	}
	create := func(name, token string) (*eks.CreateClusterOutput, error) {
		in := &eks.CreateClusterInput{Name: aws.String(name), RoleArn: aws.String(testRole), ResourcesVpcConfig: vpcConfig(ids)}
		if token != "" {
			in.ClientRequestToken = aws.String(token)
		}
		return s.eks.CreateCluster(ctx, in)
	}
	for i := 0; i < 6; i++ {
		if _, err := create(fmt.Sprint("c", i), fmt.Sprint("token-", i)); err != nil {
			t.Fatalf("cluster %d: %v", i, err)
		}
	}
	_, err := create("c6", "")
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterException") ||
		!strings.Contains(err.Error(), "Free IPs: 5 , need at least 6 IPs in each subnet to be free for this operation") {
		t.Fatalf("seventh cluster: %v", err)
	}
	out, err := create("c5", "token-5")
	if err != nil || aws.ToString(out.Cluster.Name) != "c5" {
		t.Fatalf("retry of the sixth: %v", err)
	}
}
