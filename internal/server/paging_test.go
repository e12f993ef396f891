package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/paging/pagingtest"
	"github.com/kplane/kplane/internal/server"
)

// Each EKS list call that pages over things that can go lists every item
// that stays exactly once, although the last item of every page is deleted
// before the next page is asked for. (Updates go only with their cluster;
// access policies and versions are fixed lists.)
func TestPagingSurvivesDeletedBoundary(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	var clusters []string
	for i := range 7 {
		clusters = append(clusters, aws.ToString(s.create(fmt.Sprintf("pager-%d", i)).Name))
	}
	in := s.createInput("entries")
	in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApi}
	if _, err := s.eks.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	creator := "arn:aws:iam::" + server.DefaultAccountID + ":root"
	principals := []string{creator}
	for i := range 6 {
		p := fmt.Sprintf("arn:aws:iam::%s:user/pager-%d", server.DefaultAccountID, i)
		if _, err := s.eks.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: in.Name, PrincipalArn: aws.String(p)}); err != nil {
			t.Fatal(err)
		}
		principals = append(principals, p)
	}
	var policies []string
	for _, p := range access.Policies {
		policies = append(policies, p.Arn())
		if _, err := s.eks.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: in.Name, PrincipalArn: aws.String(creator),
			PolicyArn: aws.String(p.Arn()), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster}}); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name string
		all  []string
		list func(token *string) ([]string, *string, error)
		drop func(string) error
	}{
		{"ListClusters", append(clusters, "entries"), func(token *string) ([]string, *string, error) {
			out, err := s.eks.ListClusters(ctx, &eks.ListClustersInput{MaxResults: aws.Int32(2), NextToken: token})
			if err != nil {
				return nil, nil, err
			}
			return out.Clusters, out.NextToken, nil
		}, func(name string) error {
			if name == "entries" {
				return nil
			}
			// DeleteCluster leaves the record until its control plane is
			// gone; what ends it is the store's removal.
			return s.Store.RemoveCluster(ctx, name)
		}},
		{"ListAccessEntries", principals, func(token *string) ([]string, *string, error) {
			out, err := s.eks.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: in.Name, MaxResults: aws.Int32(2), NextToken: token})
			if err != nil {
				return nil, nil, err
			}
			return out.AccessEntries, out.NextToken, nil
		}, func(p string) error {
			if p == creator { // its policies are listed next
				return nil
			}
			_, err := s.eks.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: in.Name, PrincipalArn: aws.String(p)})
			return err
		}},
		{"ListAssociatedAccessPolicies", policies, func(token *string) ([]string, *string, error) {
			out, err := s.eks.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: in.Name,
				PrincipalArn: aws.String(creator), MaxResults: aws.Int32(1), NextToken: token})
			if err != nil {
				return nil, nil, err
			}
			var arns []string
			for _, p := range out.AssociatedAccessPolicies {
				arns = append(arns, aws.ToString(p.PolicyArn))
			}
			return arns, out.NextToken, nil
		}, func(arn string) error {
			_, err := s.eks.DisassociateAccessPolicy(ctx, &eks.DisassociateAccessPolicyInput{ClusterName: in.Name,
				PrincipalArn: aws.String(creator), PolicyArn: aws.String(arn)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pagingtest.ListDeletingBoundaries(t, tc.all, pagingtest.SDKPage(tc.list), tc.drop)
		})
	}
}
