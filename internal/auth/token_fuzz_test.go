package auth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyToken: TokenVerifier.Verify never panics on any token or cluster name,
// answers exactly one of identity and rejection, answers the same twice, refuses with
// one of the TokenReason* constants, and never quotes the token in a rejection.
func FuzzVerifyToken(f *testing.F) {
	at := signTime
	good := mintToken(f, testPublicURL, testClusterID, rootCreds, testRegion, at)
	f.Add(good, testClusterID)
	f.Add(good, "other")
	f.Add(mintToken(f, testSelfURL, testClusterID, rootCreds, testRegion, at), testClusterID)
	f.Add(mintToken(f, "http://"+testSelfHost+testSTSQuery, testClusterID, tempCreds, testRegion, at), testClusterID)
	f.Add(mintToken(f, testPublicURL, "", rootCreds, testRegion, at), testClusterID)
	f.Add(retoken(f, good, appendQuery("&action=GetCallerIdentity")), testClusterID)
	f.Add(retoken(f, good, appendQuery("#x")), testClusterID)
	f.Add(TokenPrefix+"aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eQ==", testClusterID)
	f.Add(TokenPrefix, "")
	f.Add("", testClusterID)

	reasons := tokenReasonConstants(f)
	messages := tokenMessages(f)
	now := at.Add(time.Minute)
	tv := tokenVerifierAt(now, testCredentials())
	f.Fuzz(func(t *testing.T, token, cluster string) {
		id1, rej1 := tv.Verify(token, cluster)
		id2, rej2 := tv.Verify(token, cluster)
		if (id1 == nil) == (rej1 == nil) {
			t.Fatalf("want exactly one of identity and rejection, got %v and %v", id1, rej1)
		}
		if (rej1 == nil) != (rej2 == nil) || (rej1 != nil && *rej1 != *rej2) || (id1 != nil && *id1 != *id2) {
			t.Fatalf("not deterministic: %v %v / %v %v", id1, rej1, id2, rej2)
		}
		if rej1 != nil {
			if !slices.Contains(reasons, rej1.Reason) || rej1.Message == "" || rej1.Code == "" {
				t.Fatalf("rejection %+v", *rej1)
			}
			// Every message is a fixed text, so none can carry any part of the token.
			if !slices.Contains(messages, rej1.Message) {
				t.Fatalf("message %q is not one of the fixed texts", rej1.Message)
			}
			return
		}
		if cluster == "" || !strings.HasPrefix(token, TokenPrefix) || len(token) > maxTokenLen {
			t.Fatalf("accepted %q for %q", token, cluster)
		}
		if id1.ARN == "" || id1.CanonicalARN == "" || id1.AccessKeyID == "" || !id1.ExpiresAt.After(now) {
			t.Fatalf("identity %+v", *id1)
		}
	})
}

// tokenMessages lists every Message a token rejection may carry: the fixed texts of
// token.go, and the signature-check prefix followed by one of the Verifier's reasons.
func tokenMessages(tb testing.TB) []string {
	msgs := []string{msgLookupFailed}
	for _, m := range []string{msgTokenNoCluster, msgTokenTooLong, msgTokenBadPrefix, msgTokenBadBase64, msgTokenBadURL,
		msgTokenBadHost, msgTokenBadScheme, msgTokenBadPath, msgTokenUnknownParam, msgTokenDuplicate, msgTokenBadAction,
		msgTokenIDNotSigned, msgTokenBadExpires, msgTokenBadDate, msgTokenExpired, msgTokenNotYetValid, msgTokenUnsupported} {
		msgs = append(msgs, m)
	}
	for _, r := range stringConstants(tb, "rejection.go", "Reason") {
		msgs = append(msgs, msgTokenSignaturePref+r)
	}
	return msgs
}
