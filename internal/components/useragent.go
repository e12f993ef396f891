package components

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// runAPIServer is cmd/kube-apiserver/app.Run, with one filter more in the
// outermost handler chain (the aggregator's, which every request passes):
// upstreamUserAgents.
func runAPIServer(ctx context.Context, opts apiserveroptions.CompletedOptions) error {
	if err := nameInformers(&opts); err != nil {
		return err
	}
	config, err := apiserverapp.NewConfig(opts)
	if err != nil {
		return err
	}
	generic := config.Aggregator.GenericConfig
	chain := generic.BuildHandlerChainFunc
	generic.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
		return chain(upstreamUserAgents(h), c)
	}
	completed, err := config.Complete()
	if err != nil {
		return err
	}
	server, err := apiserverapp.CreateServerChain(completed)
	if err != nil {
		return err
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return err
	}
	return prepared.Run(ctx)
}

// upstreamUserAgents names the components of this process as upstream in
// the requests they make. client-go starts a User-Agent with the binary's
// name (os.Args[0]: "kplane/v1.37.2 (linux/amd64) kubernetes/..."), and the
// apiserver takes a request's field manager from the agent up to its first
// "/", so the status the controller-manager writes would be managed by
// "kplane". The three components share one process, so no one binary name
// can be right for all: once a request is authenticated, one with this
// process's agent and a control-plane identity gets the upstream binary's
// name instead (kube-controller-manager, and its controllers' service
// accounts in kube-system; kube-scheduler; kube-apiserver's loopback), as
// managedFields, server-side apply conflicts and tools show on any cluster.
func upstreamUserAgents(next http.Handler) http.Handler {
	own := filepath.Base(os.Args[0]) + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if agent := r.UserAgent(); strings.HasPrefix(agent, own) {
			if u, ok := request.UserFrom(r.Context()); ok {
				if name := upstreamName(u.GetName()); name != "" {
					r.Header.Set("User-Agent", name+"/"+strings.TrimPrefix(agent, own))
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// upstreamName is the upstream binary that authenticates as user in a
// kplane control plane, or "".
func upstreamName(user string) string {
	switch {
	case user == "system:kube-controller-manager",
		// --use-service-account-credentials: each controller as its account
		strings.HasPrefix(user, "system:serviceaccount:kube-system:"):
		return ControllerManager
	case user == "system:kube-scheduler":
		return Scheduler
	case user == "system:apiserver":
		return APIServer
	}
	return ""
}
