package iam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

func TestOpenIDConnectProviders(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	const issuer = "https://127.0.0.1:4599/oidc/id/ABCDEF"
	thumb := "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
	made, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuer),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{thumb},
		Tags: []iamtypes.Tag{{Key: aws.String("cluster"), Value: aws.String("a")}}})
	arn := "arn:aws:iam::" + testAccount + ":oidc-provider/127.0.0.1:4599/oidc/id/ABCDEF"
	if err != nil || aws.ToString(made.OpenIDConnectProviderArn) != arn {
		t.Fatalf("CreateOpenIDConnectProvider: %+v %v", made, err)
	}
	_, err = c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuer + "/"), ThumbprintList: []string{thumb}})
	wantAPIError(t, err, "EntityAlreadyExists", "Provider with url https://127.0.0.1:4599/oidc/id/ABCDEF already exists.", 409)
	_, err = c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("http://x.example"), ThumbprintList: []string{thumb}})
	wantAPIError(t, err, "InvalidInput", "", 400)
	_, err = c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://y.example"), ThumbprintList: []string{"abc"}})
	wantAPIError(t, err, "ValidationError", "", 400)

	if _, err := c.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn), ClientID: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveClientIDFromOpenIDConnectProvider(ctx, &iam.RemoveClientIDFromOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn), ClientID: aws.String("sts.amazonaws.com")}); err != nil {
		t.Fatal(err)
	}
	thumb2 := "0000000000000000000000000000000000000000"
	if _, err := c.UpdateOpenIDConnectProviderThumbprint(ctx, &iam.UpdateOpenIDConnectProviderThumbprintInput{OpenIDConnectProviderArn: aws.String(arn), ThumbprintList: []string{thumb2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagOpenIDConnectProvider(ctx, &iam.UntagOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn), TagKeys: []string{"cluster"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagOpenIDConnectProvider(ctx, &iam.TagOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn)})
	if err != nil || aws.ToString(got.Url) != "127.0.0.1:4599/oidc/id/ABCDEF" || len(got.ClientIDList) != 1 || got.ClientIDList[0] != "other" ||
		len(got.ThumbprintList) != 1 || got.ThumbprintList[0] != thumb2 || len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "k" {
		t.Fatalf("GetOpenIDConnectProvider: %+v %v", got, err)
	}
	tags, err := c.ListOpenIDConnectProviderTags(ctx, &iam.ListOpenIDConnectProviderTagsInput{OpenIDConnectProviderArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("ListOpenIDConnectProviderTags: %+v %v", tags, err)
	}
	list, err := c.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil || len(list.OpenIDConnectProviderList) != 1 || aws.ToString(list.OpenIDConnectProviderList[0].Arn) != arn {
		t.Fatalf("ListOpenIDConnectProviders: %+v %v", list, err)
	}
	if _, err := c.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn)})
	wantAPIError(t, err, "NoSuchEntity", "OpenIDConnect Provider not found for arn "+arn, 404)
	_, err = c.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn)})
	wantAPIError(t, err, "NoSuchEntity", "", 404)
}
