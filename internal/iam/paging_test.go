package iam

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/kplane/kplane/internal/paging/pagingtest"
)

// Each List call that pages lists every entity that stays exactly once,
// although the last entity of every page is deleted before the next page is
// asked for.
func TestPagingSurvivesDeletedBoundary(t *testing.T) {
	e := newTestEnv(t)
	c := e.iam(e.rootAWS)
	ctx := context.Background()
	var users, roles, keys []string
	for i := range 7 {
		u := fmt.Sprintf("pager-%d", i)
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u), Path: aws.String("/pager/")}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
		r := fmt.Sprintf("pager-role-%d", i)
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(r), Path: aws.String("/pager/"), AssumeRolePolicyDocument: aws.String(fmt.Sprintf(trustAliceFmt, "arn:aws:iam::"+testAccount+":root"))}); err != nil {
			t.Fatal(err)
		}
		roles = append(roles, r)
	}
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("keyholder")}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // IAM's most per user
		k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("keyholder")})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, aws.ToString(k.AccessKey.AccessKeyId))
	}
	for _, tc := range []struct {
		name string
		all  []string
		list func(marker *string) ([]string, *string, error)
		drop func(string) error
	}{
		{"ListUsers", users, func(marker *string) ([]string, *string, error) {
			out, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/pager/"), MaxItems: aws.Int32(2), Marker: marker})
			if err != nil {
				return nil, nil, err
			}
			var names []string
			for _, u := range out.Users {
				names = append(names, aws.ToString(u.UserName))
			}
			return names, out.Marker, nil
		}, func(name string) error {
			_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(name)})
			return err
		}},
		{"ListRoles", roles, func(marker *string) ([]string, *string, error) {
			out, err := c.ListRoles(ctx, &iam.ListRolesInput{PathPrefix: aws.String("/pager/"), MaxItems: aws.Int32(2), Marker: marker})
			if err != nil {
				return nil, nil, err
			}
			var names []string
			for _, r := range out.Roles {
				names = append(names, aws.ToString(r.RoleName))
			}
			return names, out.Marker, nil
		}, func(name string) error {
			_, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)})
			return err
		}},
		{"ListAccessKeys", keys, func(marker *string) ([]string, *string, error) {
			out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("keyholder"), MaxItems: aws.Int32(1), Marker: marker})
			if err != nil {
				return nil, nil, err
			}
			var ids []string
			for _, k := range out.AccessKeyMetadata {
				ids = append(ids, aws.ToString(k.AccessKeyId))
			}
			return ids, out.Marker, nil
		}, func(id string) error {
			_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("keyholder"), AccessKeyId: aws.String(id)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pagingtest.ListDeletingBoundaries(t, tc.all, pagingtest.SDKPage(tc.list), tc.drop)
		})
	}
}
