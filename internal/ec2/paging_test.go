package ec2

import (
	"context"
	"fmt"
	"testing"

	"github.com/kplane/kplane/internal/paging/pagingtest"
	"github.com/kplane/kplane/internal/store"
)

// Each Describe call that pages lists every resource that stays exactly
// once, although the last resource of every page is deleted before the next
// page is asked for.
func TestPagingSurvivesDeletedBoundary(t *testing.T) {
	e := newTestEnv(t)
	var home createVpcResult
	e.ok(&home, "CreateVpc", "CidrBlock", "192.168.0.0/16")
	var vpcs, subnets, groups []string
	for i := range 12 {
		var v createVpcResult
		e.ok(&v, "CreateVpc", "CidrBlock", fmt.Sprintf("10.%d.0.0/16", i))
		vpcs = append(vpcs, v.Vpc.VpcID)
		var s createSubnetResult
		e.ok(&s, "CreateSubnet", "VpcId", home.Vpc.VpcID, "CidrBlock", fmt.Sprintf("192.168.%d.0/24", i))
		subnets = append(subnets, s.Subnet.SubnetID)
		var g createSecurityGroupResult
		e.ok(&g, "CreateSecurityGroup", "GroupName", fmt.Sprintf("pg-%d", i), "GroupDescription", "paged", "VpcId", home.Vpc.VpcID)
		groups = append(groups, g.GroupID)
	}
	for _, tc := range []struct {
		action, deleteAction, idParam string
		filter                        []string
		all                           []string
		ids                           func(action string, kv []string) ([]string, string)
	}{
		{"DescribeVpcs", "DeleteVpc", "VpcId", []string{"cidr", "10.*"}, vpcs, func(action string, kv []string) ([]string, string) {
			var out describeVpcsResult
			e.ok(&out, action, kv...)
			var ids []string
			for _, v := range out.Vpcs.Items {
				ids = append(ids, v.VpcID)
			}
			return ids, out.NextToken
		}},
		{"DescribeSubnets", "DeleteSubnet", "SubnetId", []string{"vpc-id", home.Vpc.VpcID}, subnets, func(action string, kv []string) ([]string, string) {
			var out describeSubnetsResult
			e.ok(&out, action, kv...)
			var ids []string
			for _, s := range out.Subnets.Items {
				ids = append(ids, s.SubnetID)
			}
			return ids, out.NextToken
		}},
		{"DescribeSecurityGroups", "DeleteSecurityGroup", "GroupId", []string{"group-name", "pg-*"}, groups, func(action string, kv []string) ([]string, string) {
			var out describeSecurityGroupsResult
			e.ok(&out, action, kv...)
			var ids []string
			for _, g := range out.Groups.Items {
				ids = append(ids, g.GroupID)
			}
			return ids, out.NextToken
		}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			pagingtest.ListDeletingBoundaries(t, tc.all, func(token string) ([]string, string, error) {
				kv := []string{"Filter.1.Name", tc.filter[0], "Filter.1.Value.1", tc.filter[1], "MaxResults", "5"}
				if token != "" {
					kv = append(kv, "NextToken", token)
				}
				ids, next := tc.ids(tc.action, kv)
				return ids, next, nil
			}, func(id string) error {
				e.ok(nil, tc.deleteAction, tc.idParam, id)
				return nil
			})
		})
	}
	t.Run("DescribeInstances", func(t *testing.T) {
		var vpc createVpcResult
		e.ok(&vpc, "CreateVpc", "CidrBlock", "172.16.0.0/16")
		var sub createSubnetResult
		e.ok(&sub, "CreateSubnet", "VpcId", vpc.Vpc.VpcID, "CidrBlock", "172.16.0.0/24")
		byID := map[string]store.Instance{}
		var ids []string
		for i := range 12 {
			inst := e.launch(fmt.Sprintf("i-%017x", i+1), sub.Subnet.SubnetID, nil)
			byID[inst.ID] = inst
			ids = append(ids, inst.ID)
		}
		pagingtest.ListDeletingBoundaries(t, ids, func(token string) ([]string, string, error) {
			kv := []string{"Filter.1.Name", "subnet-id", "Filter.1.Value.1", sub.Subnet.SubnetID, "MaxResults", "5"}
			if token != "" {
				kv = append(kv, "NextToken", token)
			}
			var out describeInstancesResult
			e.ok(&out, "DescribeInstances", kv...)
			var got []string
			for _, r := range out.Reservations.Items {
				for _, i := range r.Instances {
					got = append(got, i.InstanceID)
				}
			}
			return got, out.NextToken, nil
		}, func(id string) error {
			return e.st.DeleteInstance(context.Background(), byID[id])
		})
	})
}
