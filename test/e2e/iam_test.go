//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIAMIntoClusters takes IAM principals into clusters the way EKS users do,
// with the aws CLI and kubectl only: the cluster creator's access entry, an
// IAM user and an assumed role given access with access entries and access
// policies, revoking an entry, the aws-auth ConfigMap of a CONFIG_MAP cluster,
// and a token minted for one cluster refused by another.
//
// The subtests run in order on shared clusters; each skips when what it needs
// from an earlier one is missing.
func TestIAMIntoClusters(t *testing.T) {
	k := startKplane(t)
	const nameA, nameB = "iam-a", "iam-b"

	// Both clusters are created at once (the second, CONFIG_MAP, one is only
	// used from step 5 on), so their start-up overlaps.
	out := k.mustAWS("eks", "create-cluster", "--name", nameA, "--role-arn", roleArn,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs(),
		"--access-config", "authenticationMode=API_AND_CONFIG_MAP")
	var created struct {
		Cluster struct {
			Status       string
			AccessConfig struct {
				AuthenticationMode                      string
				BootstrapClusterCreatorAdminPermissions *bool
			}
		}
	}
	mustUnmarshal(t, out, &created)
	if created.Cluster.Status != "CREATING" || created.Cluster.AccessConfig.AuthenticationMode != "API_AND_CONFIG_MAP" {
		t.Fatalf("create-cluster %s answered status %q mode %q, want CREATING API_AND_CONFIG_MAP: %s",
			nameA, created.Cluster.Status, created.Cluster.AccessConfig.AuthenticationMode, out)
	}
	k.createCluster(nameB)
	a, took := k.waitActive(nameA, 4*time.Minute)
	t.Logf("timing: %s ACTIVE %v after create-cluster", nameA, took.Round(time.Millisecond))

	var ident struct{ Arn, Account, UserId string }
	mustUnmarshal(t, k.mustAWS("sts", "get-caller-identity"), &ident)
	rootArn := ident.Arn
	if rootArn != "arn:aws:iam::000000000000:root" {
		t.Errorf("root get-caller-identity Arn %q, want arn:aws:iam::000000000000:root", rootArn)
	}
	kcA := filepath.Join(k.home, ".kube", "config") // update-kubeconfig's default
	kcB := filepath.Join(k.work, "b.kubeconfig")

	var (
		alice    *awsCreds // alice's access key
		aliceArn string
		session  *awsCreds // alice's session of role dev
	)

	t.Run("1 creator", func(t *testing.T) {
		k.mustAWS("eks", "update-kubeconfig", "--name", nameA)
		if _, err := os.Stat(kcA); err != nil {
			t.Fatalf("update-kubeconfig wrote no %s: %v", kcA, err)
		}
		if args := k.mustKubectl(kcA, "config", "view", "--minify", "-o", "jsonpath={.users[0].user.exec.args}"); !strings.Contains(args, "get-token") || !strings.Contains(args, nameA) {
			t.Errorf("kubeconfig's exec args %s do not run eks get-token for %s", args, nameA)
		}
		who := k.whoami(t, nil, kcA)
		t.Logf("creator in %s: username %q groups %v extra arn %v", nameA, who.Username, who.Groups, who.Extra["arn"])
		if !slices.Equal(who.Extra["arn"], []string{rootArn}) {
			t.Errorf("whoami extra arn = %v, want [%s]", who.Extra["arn"], rootArn)
		}
		if who.Username != rootArn {
			t.Errorf("whoami username = %q, want the creator's access entry username %s", who.Username, rootArn)
		}
		if !slices.Contains(who.Groups, "kplane:access-policy:AmazonEKSClusterAdminPolicy") {
			t.Errorf("whoami groups = %v, want the cluster-admin policy group", who.Groups)
		}
		// The creator is cluster admin through the entry.
		k.mustKubectl(kcA, "auth", "can-i", "*", "*", "--all-namespaces")

		var entries struct{ AccessEntries []string }
		mustUnmarshal(t, k.mustAWS("eks", "list-access-entries", "--cluster-name", nameA), &entries)
		if !slices.Contains(entries.AccessEntries, rootArn) {
			t.Fatalf("list-access-entries = %v, want the creator %s in it", entries.AccessEntries, rootArn)
		}
		var pols struct {
			AssociatedAccessPolicies []struct {
				PolicyArn   string
				AccessScope struct {
					Type       string
					Namespaces []string
				}
			}
		}
		mustUnmarshal(t, k.mustAWS("eks", "list-associated-access-policies", "--cluster-name", nameA, "--principal-arn", rootArn), &pols)
		found := false
		for _, p := range pols.AssociatedAccessPolicies {
			if p.PolicyArn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" && p.AccessScope.Type == "cluster" {
				found = true
			}
		}
		if !found {
			t.Errorf("list-associated-access-policies for %s = %+v, want AmazonEKSClusterAdminPolicy scoped to the cluster", rootArn, pols.AssociatedAccessPolicies)
		}
	})

	t.Run("2 IAM user with an access entry", func(t *testing.T) {
		var user struct {
			User struct{ Arn, UserName string }
		}
		mustUnmarshal(t, k.mustAWS("iam", "create-user", "--user-name", "alice"), &user)
		aliceArn = user.User.Arn
		if aliceArn != "arn:aws:iam::000000000000:user/alice" {
			t.Errorf("create-user alice: Arn %q, want arn:aws:iam::000000000000:user/alice", aliceArn)
		}
		alice = k.createAccessKey(t, "alice")

		var me struct{ Arn string }
		mustUnmarshal(t, k.mustAWSAs(t, alice, "sts", "get-caller-identity"), &me)
		if me.Arn != aliceArn {
			t.Fatalf("alice's get-caller-identity Arn %q, want %s", me.Arn, aliceArn)
		}

		// No entry yet: the token is valid but maps to no one.
		wantUnauthorized(t, "alice without an access entry", func() (string, error) { return k.kubectlAs(alice, kcA, "get", "pods", "-A") })

		k.mustAWS("eks", "create-access-entry", "--cluster-name", nameA, "--principal-arn", aliceArn)
		k.mustAWS("eks", "associate-access-policy", "--cluster-name", nameA, "--principal-arn", aliceArn,
			"--policy-arn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", "--access-scope", "type=cluster")
		took := eventually(t, 30*time.Second, pollStep, "alice lists pods after the access entry", func() error {
			_, err := k.kubectlAs(alice, kcA, "get", "pods", "-A")
			return err
		})
		t.Logf("timing: alice could list pods %v after associate-access-policy returned", took.Round(time.Millisecond))

		wantForbidden(t, "alice (view) creating a configmap", func() (string, error) {
			return k.kubectlAs(alice, kcA, "create", "configmap", "x", "-n", "default", "--from-literal=a=b")
		})
		who := k.whoami(t, alice, kcA)
		t.Logf("alice in %s: username %q groups %v", nameA, who.Username, who.Groups)
		if who.Username != aliceArn || !slices.Equal(who.Extra["arn"], []string{aliceArn}) {
			t.Errorf("alice's whoami: username %q extra arn %v, want %s for both", who.Username, who.Extra["arn"], aliceArn)
		}
		if !slices.Contains(who.Groups, "kplane:access-policy:AmazonEKSViewPolicy") {
			t.Errorf("alice's groups %v lack the view policy group", who.Groups)
		}
	})

	t.Run("3 assumed role with a namespace-scoped entry", func(t *testing.T) {
		if alice == nil {
			t.Skip("no alice (step 2 failed)")
		}
		trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"}]}`, aliceArn)
		var role struct{ Role struct{ Arn string } }
		mustUnmarshal(t, k.mustAWS("iam", "create-role", "--role-name", "dev", "--assume-role-policy-document", trust), &role)
		devArn := role.Role.Arn
		if devArn != "arn:aws:iam::000000000000:role/dev" {
			t.Errorf("create-role dev: Arn %q", devArn)
		}
		var assumed struct {
			Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken string }
			AssumedRoleUser struct{ Arn string }
		}
		mustUnmarshal(t, k.mustAWSAs(t, alice, "sts", "assume-role", "--role-arn", devArn, "--role-session-name", "s1"), &assumed)
		const sessionArn = "arn:aws:sts::000000000000:assumed-role/dev/s1"
		if assumed.AssumedRoleUser.Arn != sessionArn || assumed.Credentials.SessionToken == "" {
			t.Fatalf("assume-role answered AssumedRoleUser %q session token %q, want %s and a token", assumed.AssumedRoleUser.Arn, assumed.Credentials.SessionToken, sessionArn)
		}
		session = &awsCreds{KeyID: assumed.Credentials.AccessKeyId, Secret: assumed.Credentials.SecretAccessKey, Token: assumed.Credentials.SessionToken}
		var me struct{ Arn string }
		mustUnmarshal(t, k.mustAWSAs(t, session, "sts", "get-caller-identity"), &me)
		if me.Arn != sessionArn {
			t.Errorf("session's get-caller-identity Arn %q, want %s", me.Arn, sessionArn)
		}

		wantUnauthorized(t, "role session without an access entry", func() (string, error) { return k.kubectlAs(session, kcA, "get", "pods", "-n", "team") })

		k.mustKubectl(kcA, "create", "namespace", "team")
		k.mustAWS("eks", "create-access-entry", "--cluster-name", nameA, "--principal-arn", devArn)
		k.mustAWS("eks", "associate-access-policy", "--cluster-name", nameA, "--principal-arn", devArn,
			"--policy-arn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
			"--access-scope", "type=namespace,namespaces=team")
		took := eventually(t, 60*time.Second, pollStep, "role session creates a configmap in team", func() error {
			_, err := k.kubectlAs(session, kcA, "create", "configmap", "from-dev", "-n", "team", "--from-literal=a=b")
			return err
		})
		t.Logf("timing: the dev session could write in namespace team %v after associate-access-policy returned", took.Round(time.Millisecond))
		if out := k.mustKubectl(kcA, "get", "rolebindings", "-n", "team", "-o", "name"); !strings.Contains(out, "kplane:access-policy:AmazonEKSEditPolicy") {
			t.Errorf("no kplane RoleBinding for the edit policy in team: %q", out)
		}
		wantForbidden(t, "dev session creating a configmap in default", func() (string, error) {
			return k.kubectlAs(session, kcA, "create", "configmap", "from-dev", "-n", "default", "--from-literal=a=b")
		})
		who := k.whoami(t, session, kcA)
		t.Logf("dev session in %s: username %q groups %v extra %v", nameA, who.Username, who.Groups, who.Extra)
		if who.Username != sessionArn {
			t.Errorf("session's whoami username %q, want %s", who.Username, sessionArn)
		}
		if !slices.Equal(who.Extra["arn"], []string{sessionArn}) || !slices.Equal(who.Extra["canonicalArn"], []string{devArn}) || !slices.Equal(who.Extra["sessionName"], []string{"s1"}) {
			t.Errorf("session's whoami extra %v, want arn %s, canonicalArn %s, sessionName s1", who.Extra, sessionArn, devArn)
		}
	})

	t.Run("4 delete-access-entry revokes", func(t *testing.T) {
		if alice == nil {
			t.Skip("no alice (step 2 failed)")
		}
		if _, err := k.kubectlAs(alice, kcA, "get", "pods", "-A"); err != nil {
			t.Fatalf("alice cannot list pods before the revocation: %v", err)
		}
		// Three measures of the revocation:
		//  - unused: a token minted now but first shown after the delete. No
		//    cache has it, so it measures kplane's own delay.
		//  - kubectl as alice, a fresh token each call (the brief's measure).
		//  - token: shown once just before the delete and then reused, as
		//    kubectl (within one process) and long-running clients do. It
		//    meets kube-apiserver's success caches: the webhook's
		//    (--authentication-token-webhook-cache-ttl, 5s in kplane) and the
		//    one around all token authenticators (TokenSuccessCacheTTL, 10s by
		//    default, no flag), so it may keep working up to ~10s.
		// get-token signs with one-second resolution: two tokens minted in
		// the same second are the same bytes, and the apiserver's cache would
		// know the "unused" one. So it is minted a second after alice's last
		// kubectl call above, and the reused one a second after it.
		time.Sleep(1100 * time.Millisecond)
		unused := k.getToken(t, alice, nameA)
		time.Sleep(1100 * time.Millisecond)
		token := k.getToken(t, alice, nameA)
		if token == unused {
			t.Fatal("two tokens minted a second apart are identical")
		}
		caA := decodeCA(t, a.CertificateAuthority.Data)
		client := httpsClient(t, caA, nil, nil, 10*time.Second)
		if code, body := bearerGet(client, a.Endpoint+"/api/v1/pods?limit=1", token); code != http.StatusOK {
			t.Fatalf("alice's token at %s before the revocation: HTTP %d %s", nameA, code, body)
		}
		lastOK := time.Now()

		k.mustAWS("eks", "delete-access-entry", "--cluster-name", nameA, "--principal-arn", aliceArn)
		deleted := time.Now()
		if code, body := bearerGet(client, a.Endpoint+"/api/v1/pods?limit=1", unused); code != http.StatusUnauthorized {
			t.Errorf("a token first shown right after delete-access-entry: HTTP %d %s, want 401", code, body)
		} else {
			t.Logf("timing: revocation: a token first shown after delete-access-entry was refused on its first request, %v after the delete returned",
				time.Since(deleted).Round(time.Millisecond))
		}

		var wg sync.WaitGroup
		var reuseTook time.Duration
		reuseCode := 0
		var reuseTimeline []string
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(deleted) < 30*time.Second {
				at := time.Since(deleted)
				code, _ := bearerGet(client, a.Endpoint+"/api/v1/pods?limit=1", token)
				reuseTimeline = append(reuseTimeline, fmt.Sprintf("%v:%d", at.Round(10*time.Millisecond), code))
				if code == http.StatusUnauthorized {
					reuseTook, reuseCode = time.Since(deleted), code
					return
				}
				reuseCode = code
				time.Sleep(pollStep)
			}
		}()

		var polls int
		var lastErr error
		var callStarted time.Duration
		refused := false
		for time.Since(deleted) < 30*time.Second {
			polls++
			callStarted = time.Since(deleted)
			_, err := k.kubectlAs(alice, kcA, "get", "pods", "-A")
			if err != nil && isUnauthorized(err) {
				refused = true
				break
			}
			lastErr = err
			time.Sleep(pollStep)
		}
		kubectlTook := time.Since(deleted)
		wg.Wait()
		if !refused {
			t.Errorf("alice's kubectl still not refused 30s after delete-access-entry (last: %v)", lastErr)
		} else {
			t.Logf("timing: revocation: alice's kubectl (fresh token each call) refused %v after delete-access-entry returned (that call started at %v; %d calls)",
				kubectlTook.Round(time.Millisecond), callStarted.Round(time.Millisecond), polls)
		}
		if reuseTook == 0 {
			t.Errorf("alice's reused token still not refused 30s after delete-access-entry (last HTTP %d)", reuseCode)
		} else {
			t.Logf("timing: revocation: alice's reused token refused (HTTP 401) %v after delete-access-entry returned (%v after its last success before the delete)",
				reuseTook.Round(time.Millisecond), (reuseTook + deleted.Sub(lastOK)).Round(time.Millisecond))
		}
		t.Logf("reused-token polls (time since delete-access-entry returned: HTTP status): %s", strings.Join(reuseTimeline, " "))
		var entries struct{ AccessEntries []string }
		mustUnmarshal(t, k.mustAWS("eks", "list-access-entries", "--cluster-name", nameA), &entries)
		if slices.Contains(entries.AccessEntries, aliceArn) {
			t.Errorf("list-access-entries still lists %s: %v", aliceArn, entries.AccessEntries)
		}
	})

	var b *cluster
	t.Run("5 aws-auth in a CONFIG_MAP cluster", func(t *testing.T) {
		var took time.Duration
		b, took = k.waitActive(nameB, 4*time.Minute)
		t.Logf("timing: %s ACTIVE (waited a further %v)", nameB, took.Round(time.Millisecond))
		if alice == nil {
			t.Skip("no alice (step 2 failed)")
		}
		k.mustAWS("eks", "update-kubeconfig", "--name", nameB, "--kubeconfig", kcB)
		// The creator is admin without an entry in CONFIG_MAP mode.
		who := k.whoami(t, nil, kcB)
		t.Logf("creator in %s: username %q groups %v", nameB, who.Username, who.Groups)
		if !slices.Equal(who.Extra["arn"], []string{rootArn}) {
			t.Errorf("creator's whoami in %s: extra arn %v, want [%s]", nameB, who.Extra["arn"], rootArn)
		}

		wantUnauthorized(t, "alice in "+nameB+" without aws-auth", func() (string, error) { return k.kubectlAs(alice, kcB, "get", "pods", "-A") })

		awsAuth := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapUsers: |
    - userarn: %s
      username: alice
      groups:
        - readers
`, aliceArn)
		file := filepath.Join(k.work, "aws-auth.yaml")
		if err := os.WriteFile(file, []byte(awsAuth), 0o600); err != nil {
			t.Fatal(err)
		}
		k.mustKubectl(kcB, "apply", "-f", file)
		k.mustKubectl(kcB, "create", "clusterrolebinding", "readers-view", "--clusterrole=view", "--group=readers")
		took = eventually(t, 30*time.Second, pollStep, "alice lists pods in "+nameB+" through aws-auth", func() error {
			_, err := k.kubectlAs(alice, kcB, "get", "pods", "-A")
			return err
		})
		t.Logf("timing: alice could list pods in %s %v after aws-auth and the binding were created", nameB, took.Round(time.Millisecond))
		who = k.whoami(t, alice, kcB)
		t.Logf("alice in %s: username %q groups %v", nameB, who.Username, who.Groups)
		if who.Username != "alice" || !slices.Contains(who.Groups, "readers") {
			t.Errorf("alice's whoami in %s: username %q groups %v, want alice in readers", nameB, who.Username, who.Groups)
		}
		wantForbidden(t, "alice (readers→view) creating a configmap in "+nameB, func() (string, error) {
			return k.kubectlAs(alice, kcB, "create", "configmap", "x", "-n", "default", "--from-literal=a=b")
		})

		_, err := k.awsCLI("eks", "create-access-entry", "--cluster-name", nameB, "--principal-arn", aliceArn)
		if err == nil || !strings.Contains(err.Error(), "InvalidRequestException") {
			t.Errorf("create-access-entry on the CONFIG_MAP cluster %s: want InvalidRequestException, got %v", nameB, err)
		}
	})

	t.Run("6 token for A refused by B", func(t *testing.T) {
		if b == nil || b.Status != "ACTIVE" {
			t.Skip("cluster B not ACTIVE (step 5 failed)")
		}
		tokenA := k.getToken(t, nil, nameA)
		tokenB := k.getToken(t, nil, nameB)
		clientA := httpsClient(t, decodeCA(t, a.CertificateAuthority.Data), nil, nil, 10*time.Second)
		clientB := httpsClient(t, decodeCA(t, b.CertificateAuthority.Data), nil, nil, 10*time.Second)
		// Controls: each token works where it was minted for.
		if code, body := bearerGet(clientA, a.Endpoint+"/api/v1/namespaces", tokenA); code != http.StatusOK {
			t.Fatalf("A's token at A: HTTP %d %s, want 200", code, body)
		}
		if code, body := bearerGet(clientB, b.Endpoint+"/api/v1/namespaces", tokenB); code != http.StatusOK {
			t.Fatalf("B's token at B: HTTP %d %s, want 200", code, body)
		}
		if code, body := bearerGet(clientB, b.Endpoint+"/api/v1/namespaces", tokenA); code != http.StatusUnauthorized {
			t.Errorf("A's token at B: HTTP %d %s, want 401", code, body)
		}
		if code, body := bearerGet(clientA, a.Endpoint+"/api/v1/namespaces", tokenB); code != http.StatusUnauthorized {
			t.Errorf("B's token at A: HTTP %d %s, want 401", code, body)
		}
	})
}

// awsCreds are a principal's credentials, given to the aws CLI (and so to
// kubectl's `aws eks get-token`) in the environment.
type awsCreds struct{ KeyID, Secret, Token string }

// env overrides k.env(): the credentials, and a shared credentials file that
// does not exist, so nothing of root's can be picked up instead.
func (c *awsCreds) env(k *kplane) []string {
	if c == nil {
		return nil
	}
	e := []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(k.work, "no-such-credentials"),
		"AWS_ACCESS_KEY_ID=" + c.KeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.Secret,
	}
	if c.Token != "" {
		e = append(e, "AWS_SESSION_TOKEN="+c.Token)
	}
	return e
}

// execAs runs a command as k.exec does, with extra env (later values win).
func (k *kplane) execAs(extra []string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(k.env(), extra...)
	cmd.Dir = k.work
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// kubectlAs runs kubectl with kubeconfig kc as principal c (nil: root).
func (k *kplane) kubectlAs(c *awsCreds, kc string, args ...string) (string, error) {
	return k.execAs(c.env(k), 60*time.Second, "kubectl", append([]string{"--kubeconfig", kc, "--request-timeout=10s"}, args...)...)
}

// mustAWSAs runs the aws CLI as principal c (nil: root).
func (k *kplane) mustAWSAs(t *testing.T, c *awsCreds, args ...string) string {
	t.Helper()
	out, err := k.execAs(c.env(k), 60*time.Second, "aws", append(args, "--output", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (k *kplane) createAccessKey(t *testing.T, user string) *awsCreds {
	t.Helper()
	var key struct {
		AccessKey struct{ UserName, AccessKeyId, SecretAccessKey, Status string }
	}
	mustUnmarshal(t, k.mustAWS("iam", "create-access-key", "--user-name", user), &key)
	if key.AccessKey.AccessKeyId == "" || key.AccessKey.SecretAccessKey == "" || key.AccessKey.Status != "Active" {
		t.Fatalf("create-access-key %s answered %+v", user, key.AccessKey)
	}
	return &awsCreds{KeyID: key.AccessKey.AccessKeyId, Secret: key.AccessKey.SecretAccessKey}
}

// getToken runs `aws eks get-token` as c (nil: root) and returns the token.
func (k *kplane) getToken(t *testing.T, c *awsCreds, cluster string) string {
	t.Helper()
	var cred struct {
		Kind   string
		Status struct{ Token string }
	}
	mustUnmarshal(t, k.mustAWSAs(t, c, "eks", "get-token", "--cluster-name", cluster), &cred)
	if !strings.HasPrefix(cred.Status.Token, "k8s-aws-v1.") {
		t.Fatalf("get-token for %s: token %q", cluster, cred.Status.Token)
	}
	return cred.Status.Token
}

// userInfo is a SelfSubjectReview's status.userInfo.
type userInfo struct {
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// whoami runs `kubectl auth whoami -o json` as c (nil: root).
func (k *kplane) whoami(t *testing.T, c *awsCreds, kc string) userInfo {
	t.Helper()
	out, err := k.kubectlAs(c, kc, "auth", "whoami", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status struct{ UserInfo userInfo }
	}
	mustUnmarshal(t, out, &r)
	return r.Status.UserInfo
}

func mustUnmarshal(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// isUnauthorized: kubectl's words for a 401.
func isUnauthorized(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Unauthorized") || strings.Contains(msg, "must be logged in")
}

func wantUnauthorized(t *testing.T, what string, f func() (string, error)) {
	t.Helper()
	out, err := f()
	switch {
	case err == nil:
		t.Errorf("%s: succeeded (%q), want Unauthorized", what, out)
	case !isUnauthorized(err):
		t.Errorf("%s: failed, but not with Unauthorized: %v", what, err)
	}
}

func wantForbidden(t *testing.T, what string, f func() (string, error)) {
	t.Helper()
	out, err := f()
	switch {
	case err == nil:
		t.Errorf("%s: succeeded (%q), want Forbidden", what, out)
	case !strings.Contains(err.Error(), "Forbidden") && !strings.Contains(err.Error(), "forbidden"):
		t.Errorf("%s: failed, but not with Forbidden: %v", what, err)
	}
}

func decodeCA(t *testing.T, data string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(b) == 0 {
		t.Fatalf("certificateAuthority.data %q: %v", data, err)
	}
	return b
}

// bearerGet GETs url with the bearer token; code 0 when the request failed.
func bearerGet(c *http.Client, url, token string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, strings.TrimSpace(string(body))
}
