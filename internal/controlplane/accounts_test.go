package controlplane

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// controllerAccountRequests reads a cluster's audit log: the kube-system
// ServiceAccounts the child process made ahead (created by a system:masters
// user) and those kube-controller-manager looked up for its controllers.
func controllerAccountRequests(t *testing.T, cfg ClusterConfig) (madeAhead, lookedUp []string) {
	t.Helper()
	f, err := os.Open(cfg.LogFile(LogTypeAudit))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Verb string `json:"verb"`
			User struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"user"`
			ObjectRef struct {
				Resource, Namespace, Name, Subresource string
			} `json:"objectRef"`
			ResponseStatus struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
			RequestObject struct {
				Metadata struct{ Name string } `json:"metadata"`
			} `json:"requestObject"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		o := ev.ObjectRef
		if o.Resource != "serviceaccounts" || o.Namespace != "kube-system" || o.Subresource != "" {
			continue
		}
		switch {
		case ev.Verb == "create" && ev.ResponseStatus.Code == 201 && slices.Contains(ev.User.Groups, "system:masters"):
			madeAhead = append(madeAhead, o.Name)
		case ev.Verb == "get" && ev.User.Username == "system:kube-controller-manager":
			lookedUp = append(lookedUp, o.Name)
		}
	}
	slices.Sort(madeAhead)
	slices.Sort(lookedUp)
	return madeAhead, slices.Compact(lookedUp)
}

// checkControllerAccounts: the ServiceAccounts made ahead for the
// controller-manager are exactly those it looks up, so a cluster has no
// account a plain kube-controller-manager would not have made, and none is
// left for the controller-manager to make one request at a time.
func checkControllerAccounts(t *testing.T, cfg ClusterConfig) {
	t.Helper()
	var made, looked []string
	eventually(t, 10*time.Second, "audit events of the controller-manager's ServiceAccounts", func() error {
		made, looked = controllerAccountRequests(t, cfg)
		if len(made) == 0 || len(looked) == 0 {
			return fmt.Errorf("made ahead %d, looked up %d", len(made), len(looked))
		}
		return nil
	})
	var extra, missing []string
	for _, n := range made {
		if !slices.Contains(looked, n) {
			extra = append(extra, n)
		}
	}
	for _, n := range looked {
		if !slices.Contains(made, n) {
			missing = append(missing, n)
		}
	}
	if len(extra) > 0 {
		t.Errorf("ServiceAccounts made ahead that kube-controller-manager does not use: %s", strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		t.Errorf("ServiceAccounts kube-controller-manager uses that were not made ahead: %s", strings.Join(missing, ", "))
	}
	if len(extra)+len(missing) == 0 {
		t.Logf("%d controller ServiceAccounts made ahead, all used by kube-controller-manager", len(made))
	}
}
