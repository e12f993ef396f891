package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kplane/kplane/internal/components"
)

// versionText is what `kplane version` and `--version` print: kplane's own
// version (the module version and commit Go stamps into the build) and the
// Kubernetes versions its clusters can run.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kplane %s\n", kplaneVersion())
	fmt.Fprintf(&b, "Kubernetes components built in: %s\n", components.KubernetesVersion())
	cal, missing, err := offeredVersions(context.Background(), "")
	if err != nil {
		fmt.Fprintf(&b, "No Kubernetes version can run: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "Kubernetes versions clusters can run (--kubernetes-version):\n")
	now := time.Now()
	def := cal.Default(now, nil)
	for _, m := range cal.Versions {
		note := ""
		if m.Version == def {
			note = ", the default"
		}
		fmt.Fprintf(&b, "  %s (%s, platform version %s, %s%s)\n", m.Version, m.KubernetesPatchVersion, m.DefaultPlatformVersion, m.Status(now), note)
	}
	for _, m := range missing {
		fmt.Fprintf(&b, "  not offered: %v\n", m)
	}
	return b.String()
}

// kplaneVersion is the main module's version with its commit, e.g.
// "v0.0.0-20261207135200-96868e1abcde+dirty (commit 96868e1abcde, modified), go1.26.8 linux/amd64".
func kplaneVersion() string {
	v, details := "(unknown)", []string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			details = append(details, "commit "+rev)
		}
		if modified == "true" {
			details = append(details, "modified")
		}
	}
	if len(details) > 0 {
		v += " (" + strings.Join(details, ", ") + ")"
	}
	return fmt.Sprintf("%s, %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kplane's version and the Kubernetes versions it carries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}

// addVersionFlags makes --version, on cmd and every command under it, print
// text() and do nothing else. The flag itself is the one k8s.io/component-base
// registers on pflag.CommandLine (which cobra gives every command); it only
// records the request, so each command's Args and RunE check it first.
func addVersionFlags(cmd *cobra.Command, text func() string) {
	if pflag.CommandLine.Lookup("version") == nil {
		cmd.PersistentFlags().Bool("version", false, "print kplane's version and the Kubernetes versions it carries")
	}
	var wrap func(*cobra.Command)
	wrap = func(c *cobra.Command) {
		args, run := c.Args, c.RunE
		c.Args = func(c *cobra.Command, a []string) error {
			if versionRequested(c) || args == nil {
				return nil
			}
			return args(c, a)
		}
		c.RunE = func(c *cobra.Command, a []string) error {
			if versionRequested(c) {
				_, err := fmt.Fprint(c.OutOrStdout(), text())
				return err
			}
			if run == nil {
				return c.Help()
			}
			return run(c, a)
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(cmd)
}

func versionRequested(c *cobra.Command) bool {
	f := c.Flags().Lookup("version")
	return f != nil && f.Changed && f.Value.String() != "false"
}
