package server_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// crashAtEnv names a store fault point at which the child server process
// (TestMain) exits as if killed.
const crashAtEnv = "KPLANE_CRASH_AT"

const crashExitCode = 3

func crashAt(s *server.Server) {
	if point := os.Getenv(crashAtEnv); point != "" {
		s.Store.InjectFault(store.FaultPoint(point), func() error { os.Exit(crashExitCode); return nil })
	}
}

// The creator's access entry is written in the cluster's own transaction: a
// kplane killed right after that transaction, before it answers, has made
// both or neither, and the client's retry with the same clientRequestToken
// gets a cluster whose creator is its admin.
func TestCreatorAccessSurvivesKillAfterCreateCluster(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(crashAtEnv, string(store.FaultAfterCreateCluster))
	cmd, url := startChild(t, dir)
	client := childClient(t, dir, url)
	in := &eks.CreateClusterInput{Name: aws.String("creator"), RoleArn: aws.String(testRole),
		ResourcesVpcConfig: vpcConfig(childSubnets(t, client, dir)), ClientRequestToken: aws.String("creator-token-1"),
		AccessConfig: &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApi,
			BootstrapClusterCreatorAdminPermissions: aws.Bool(true)}}
	if _, err := client.CreateCluster(context.Background(), in); err == nil {
		t.Fatal("CreateCluster answered although kplane was to die after its transaction")
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != crashExitCode {
		t.Fatalf("child server did not die at the fault point: %v", err)
	}

	t.Setenv(crashAtEnv, "")
	_, url = startChild(t, dir)
	client = childClient(t, dir, url)
	out, err := client.CreateCluster(context.Background(), in)
	if err != nil {
		t.Fatalf("retry with the same clientRequestToken: %v", err)
	}
	creator := "arn:aws:iam::" + server.DefaultAccountID + ":root"
	if _, err := client.DescribeAccessEntry(context.Background(), &eks.DescribeAccessEntryInput{ClusterName: in.Name, PrincipalArn: aws.String(creator)}); err != nil {
		t.Fatalf("the creator has no access entry: %v", err)
	}
	pols, err := client.ListAssociatedAccessPolicies(context.Background(), &eks.ListAssociatedAccessPoliciesInput{ClusterName: in.Name, PrincipalArn: aws.String(creator)})
	if err != nil || len(pols.AssociatedAccessPolicies) != 1 {
		t.Fatalf("the creator's policies: %+v %v", pols, err)
	}
	if p := pols.AssociatedAccessPolicies[0]; aws.ToString(p.PolicyArn) != access.PolicyArnPrefix+"AmazonEKSClusterAdminPolicy" || p.AccessScope.Type != ekstypes.AccessScopeTypeCluster {
		t.Fatalf("the creator's policy is %s on %s, want AmazonEKSClusterAdminPolicy on the cluster", aws.ToString(p.PolicyArn), p.AccessScope.Type)
	}

	// What the cluster's token webhook answers for the creator: the group
	// that kplane binds to cluster-admin.
	ep, err := store.EmbeddedEndpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{DataDir: dir, Endpoints: []string{ep}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	user, ok, err := (&access.Mapper{Store: st}).Map(context.Background(), aws.ToString(out.Cluster.Id),
		&auth.TokenIdentity{ARN: creator, CanonicalARN: creator, AccountID: server.DefaultAccountID})
	admin, _ := access.PolicyByArn(access.PolicyArnPrefix + "AmazonEKSClusterAdminPolicy")
	if err != nil || !ok || !slices.Contains(user.Groups, admin.ClusterGroup()) || admin.ClusterRole != "cluster-admin" {
		t.Fatalf("the creator maps to %+v (mapped %v, %v), want group %s bound to cluster-admin", user, ok, err, admin.ClusterGroup())
	}
}

// UpdateClusterConfig's move to an API authentication mode writes the
// creator's access entry in the update's own transaction: when kplane fails
// right after that transaction, before it answers, the entry is there
// already.
func TestCreatorAccessWrittenWithAccessConfigUpdate(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	in := s.createInput("modes")
	in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeConfigMap}
	if _, err := s.eks.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	s.activate("modes")
	creator := "arn:aws:iam::" + server.DefaultAccountID + ":root"
	if _, err := s.eks.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: in.Name, PrincipalArn: aws.String(creator)}); err == nil {
		t.Fatal("the creator has an access entry in CONFIG_MAP mode")
	}
	s.Store.InjectFault(store.FaultAfterStartUpdate, func() error { return errors.New("injected: kplane died here") })
	up := &eks.UpdateClusterConfigInput{Name: in.Name, ClientRequestToken: aws.String("modes-1"),
		AccessConfig: &ekstypes.UpdateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApiAndConfigMap}}
	if _, err := s.eks.UpdateClusterConfig(ctx, up); err == nil {
		t.Fatal("UpdateClusterConfig answered although it was to fail after its transaction")
	}
	s.Store.InjectFault(store.FaultAfterStartUpdate, nil)
	// The mode itself changes when the reconciler finishes the update; the
	// entry is in the store from the update's start.
	entry, err := s.Store.GetAccessEntry(ctx, "modes", creator)
	if err != nil || len(entry.Policies) != 1 || entry.Policies[0].PolicyArn != access.PolicyArnPrefix+"AmazonEKSClusterAdminPolicy" {
		t.Fatalf("after the failed answer the creator's entry is %+v (%v), want one with AmazonEKSClusterAdminPolicy", entry, err)
	}
	// The client's retry replays the update.
	out, err := s.eks.UpdateClusterConfig(ctx, up)
	if err != nil || out.Update.Type != ekstypes.UpdateTypeAccessConfigUpdate {
		t.Fatalf("retry with the same token: %+v %v", out, err)
	}
}
