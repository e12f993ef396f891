// Package nodecomponents runs a worker node's kubelet and kube-proxy in the
// current process (the `kplane node-run` agent, see internal/node). It is the
// only package of the node importing k8s.io/kubernetes.
//
// Both components keep process-global state (feature gates, klog, the legacy
// metrics registry, the kubelet's signal handler), so a process runs one
// node. The kubelet's cobra command is used as is: it parses its flags with
// the precedence rules of its config file, applies logging once and installs
// the one-shot signal handler, which is what a one-node process wants.
package nodecomponents

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
)

// Kubelet runs the kubelet with args (flags only) until it fails. The
// kubelet stops on SIGTERM/SIGINT through its own signal handler.
func Kubelet(ctx context.Context, args []string) error {
	cmd := kubeletapp.NewKubeletCommand(ctx)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	return fmt.Errorf("kubelet returned")
}

// KubeProxy runs kube-proxy with args (flags only) until ctx is done or it
// fails. Its cobra command is not used: it would apply the process-global
// logging configuration a second time (the kubelet's), which fails.
func KubeProxy(ctx context.Context, args []string) error {
	opts := proxyapp.NewOptions()
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-proxy flags: %w", err)
	}
	if err := opts.Complete(fs); err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	if err := opts.Run(ctx); err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	return ctx.Err()
}
