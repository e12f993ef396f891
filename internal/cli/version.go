package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/components"
	"github.com/kplane/kplane/internal/server"
)

// versionText is what `kplane version` and `--version` print: kplane's own
// version (the module version and commit Go stamps into the build) and the
// Kubernetes versions its clusters can run.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kplane %s\n", kplaneVersion())
	fmt.Fprintf(&b, "Kubernetes components built in: %s\n", components.KubernetesVersion())
	fmt.Fprintf(&b, "Kubernetes versions clusters can run (--kubernetes-version):\n")
	for i, v := range server.Versions {
		def := ""
		if i == 0 {
			def = ", the default"
		}
		fmt.Fprintf(&b, "  %s (%s, platform version %s%s)\n", v.Minor, v.Patch, v.PlatformVersion, def)
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

// addVersionFlags gives cmd and every command under it a --version flag
// that prints text and does nothing else: cobra adds the flag to each command
// that has a Version, so `kplane serve --version` prints and starts nothing.
func addVersionFlags(cmd *cobra.Command, text string) {
	cmd.Version = text
	cmd.SetVersionTemplate("{{.Version}}")
	for _, c := range cmd.Commands() {
		addVersionFlags(c, text)
	}
}
