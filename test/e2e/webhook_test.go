//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/pki"
)

// webhookSource is a validating admission webhook (HTTPS on 8443, with the
// certificate mounted at /tls) that denies ConfigMaps with a "deny" key and
// says who called it; on 8080, /whoami answers the caller's address. With
// -get URL it prints what URL answers and exits (a client pod).
const webhookSource = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-get" {
		c := http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i++ {
			resp, err := c.Get(os.Args[2])
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				fmt.Printf("%s\n", b)
				return
			}
			if i == 30 {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			time.Sleep(time.Second)
		}
	}
	host, _ := os.Hostname()
	http.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		from, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprint(w, from)
	})
	http.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Request struct {
				UID    string ` + "`json:\"uid\"`" + `
				Object struct {
					Data map[string]string ` + "`json:\"data\"`" + `
				} ` + "`json:\"object\"`" + `
			} ` + "`json:\"request\"`" + `
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, deny := review.Request.Object.Data["deny"]
		from, _, _ := net.SplitHostPort(r.RemoteAddr)
		resp := map[string]any{"uid": review.Request.UID, "allowed": !deny}
		if deny {
			resp["status"] = map[string]any{"code": 403, "message": fmt.Sprintf("denied by pod %s, called from %s", host, from)}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
	})
	go http.ListenAndServe(":8080", nil)
	fmt.Println(http.ListenAndServeTLS(":8443", "/tls/tls.crt", "/tls/tls.key", nil))
	os.Exit(1)
}
`

const webhookImage = "kplane.local/webhook:test"

// TestPodWebhookAndPodToPod: two nodes in the cluster's VPC (namespaces of
// internal/nodenet, as a nodegroup's nodes); a validating webhook served by
// a pod on one of them, registered by its Service, is called by the
// apiserver (through kplane's egress proxy, at the Service's endpoint: the
// pod's own address) and its answer decides each create; the call arrives
// from the VPC's router, unchanged. A pod on the other node reaches the
// webhook pod and is seen with its own address (no masquerade between
// pods), and its log is read through the apiserver.
func TestPodWebhookAndPodToPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces")
	}
	k := startKplaneWith(t, "--control-plane-replicas", "1")
	const name = "webhooks"
	c := k.createActive(name)
	cs := clientset(t, k.kubeconfig(name))
	ctx := context.Background()
	v := clusterVPCOf(t, k, name)
	nodeA, nodeB := startVPCNode(t, k, c, v, 20), startVPCNode(t, k, c, v, 21)
	waitNodeReady(t, cs, nodeA.spec.Name, 3*time.Minute)
	waitNodeReady(t, cs, nodeB.spec.Name, 3*time.Minute)
	archive := buildGoImage(t, webhookSource, webhookImage)
	for _, n := range []*testNode{nodeA, nodeB} {
		if out, err := k.exec(2*time.Minute, kplaneBin, "images", "import", "--node-dir", n.dir, archive); err != nil {
			t.Fatalf("kplane images import: %v: %s", err, out)
		}
	}

	// The webhook's serving certificate, from a CA of the test's own.
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "webhook-ca")
	if err != nil {
		t.Fatal(err)
	}
	const svcName = "webhook.default.svc"
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := pki.LoadOrIssue(certFile, keyFile, ca, pki.Spec{CommonName: svcName, DNSNames: []string{svcName}, Server: true}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "webhook-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": readFile(t, certFile), "tls.key": readFile(t, keyFile)}}
	if _, err := cs.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	webhookPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "webhook", Labels: map[string]string{"app": "webhook"}},
		Spec: corev1.PodSpec{
			NodeName: nodeB.spec.Name,
			Containers: []corev1.Container{{
				Name: "webhook", Image: webhookImage, ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "webhook-tls"}}}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, webhookPod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "webhook"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "webhook"},
			Ports:    []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running := func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return fmt.Errorf("phase %s, ip %q", p.Status.Phase, p.Status.PodIP)
		}
		return nil
	}
	served := waitPod(t, cs, "webhook", 2*time.Minute, running)

	// Only in a namespace of its own, so nothing else depends on it.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "guarded", Labels: map[string]string{"webhook": "on"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fail, none, path, port := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, "/validate", int32(443)
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "check"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "check.kplane.test",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "webhook", Path: &path, Port: &port},
				CABundle: ca.CertPEM,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"webhook": "on"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := func(name string, data map[string]string) error {
		_, err := cs.CoreV1().ConfigMaps("guarded").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{})
		return err
	}
	// With failurePolicy Fail, a create passes only when the webhook itself
	// answered "allowed" (the configuration and the endpoints take a moment
	// to reach the apiserver's informers).
	eventually(t, time.Minute, time.Second, "a ConfigMap allowed by the pod's webhook", func() error {
		return cm("allowed", map[string]string{"k": "v"})
	})
	err = cm("denied", map[string]string{"deny": "yes"})
	want := fmt.Sprintf("denied by pod webhook, called from %s", nodenet.Gateway(v.subnet))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a ConfigMap the webhook denies: %v; want the webhook's answer %q", err, want)
	}
	if _, err := cs.CoreV1().ConfigMaps("guarded").Get(ctx, "denied", metav1.GetOptions{}); err == nil {
		t.Error("the denied ConfigMap was created")
	}

	// Pod to pod across nodes, unmasqueraded; its log read through the
	// apiserver (egress proxy to the kubelet).
	client := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: corev1.PodSpec{
			NodeName:      nodeA.spec.Name,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "client", Image: webhookImage, ImagePullPolicy: corev1.PullNever,
				Args: []string{"-get", "http://" + served.Status.PodIP + ":8080/whoami"},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, client, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := waitPod(t, cs, "client", 2*time.Minute, func(p *corev1.Pod) error {
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("client pod failed: %s", podLog(cs, "client"))
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	if got := strings.TrimSpace(podLog(cs, "client")); got != done.Status.PodIP {
		t.Errorf("the pod on %s saw the client as %q, want the client pod's own address %s", nodeB.spec.Name, got, done.Status.PodIP)
	}
}

func podLog(cs *kubernetes.Clientset, name string) string {
	b, err := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		return "(log: " + err.Error() + ")"
	}
	return string(b)
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
