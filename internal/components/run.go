// Package components runs one cluster's kube-apiserver, kube-controller-manager
// and kube-scheduler in the current process (the `kplane controlplane-run`
// child). It is the only kplane package importing k8s.io/kubernetes.
//
// kube-apiserver keeps process-global state (metrics registry, feature gates,
// klog, signal handler), so a process runs exactly one cluster. The upstream
// cobra commands are not used as is, because their RunE each install the
// one-shot signal handler (a second call panics) and apply the process-global
// logging configuration (a second call fails). Instead, this package builds
// each component's options, parses the flags into them, sets feature gates
// and logging once, and calls the exported app.Run functions with its own
// context.
package components

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	cliflag "k8s.io/component-base/cli/flag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	cmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	schedoptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	"github.com/kplane/kplane/internal/controlplane"
)

// Component names.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
)

// Timeouts.
var (
	// ReadyTimeout bounds the wait for the apiserver's /readyz before the
	// controller-manager and scheduler start.
	ReadyTimeout = 2 * time.Minute
	// ShutdownTimeout bounds how long Run waits for components to return
	// after its context is cancelled or one component failed.
	ShutdownTimeout = 10 * time.Second
	// SettleDelay: after this time with all components up, the steady-state
	// GOGC is set and memory freed to the OS once.
	SettleDelay = 20 * time.Second
)

// Run runs the control plane described by spec: kube-apiserver first, then,
// once /readyz answers 200, kube-controller-manager and kube-scheduler (if
// their args are non-empty). It blocks until ctx is done (returns nil after
// the components stopped) or a component fails or returns (returns an error;
// the caller exits non-zero and the parent restarts the process). Run may be
// called once per process.
func Run(ctx context.Context, spec controlplane.ProcessSpec) error {
	if !runOnce.CompareAndSwap(false, true) {
		return errors.New("components.Run: only one control plane per process")
	}
	// GOGC / GOMEMLIMIT set in the environment win over the spec.
	if os.Getenv("GOGC") != "" {
		spec.GOGC, spec.StartupGOGC = 0, 0
	}
	if spec.StartupGOGC > 0 {
		debug.SetGCPercent(spec.StartupGOGC)
	} else if spec.GOGC > 0 {
		debug.SetGCPercent(spec.GOGC)
	}
	if spec.MemoryLimitBytes > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(spec.MemoryLimitBytes)
	}

	var closers []io.Closer
	defer func() {
		klog.Flush()
		for _, c := range closers {
			c.Close()
		}
	}()
	// A component's log: its EKS log file, or nothing when that type is
	// off; its error messages also go to process.log (withErrors).
	openLog := func(path string) (io.Writer, error) {
		if path == "" {
			return withErrors(io.Discard), nil
		}
		f, err := openLogFile(path)
		if err != nil {
			return nil, err
		}
		closers = append(closers, f)
		return withErrors(f), nil
	}

	// 1. Parse every component's flags before anything runs, so feature
	// gates (one process-global registry) are final before first use.
	if err := prepareFeatureGates(); err != nil {
		return fmt.Errorf("feature gates: %w", err)
	}
	api, err := newAPIServer(spec.APIServerArgs)
	if err != nil {
		return fmt.Errorf("%s: %w", APIServer, err)
	}
	var cm *controllerManager
	if len(spec.ControllerManagerArgs) > 0 {
		if cm, err = newControllerManager(spec.ControllerManagerArgs); err != nil {
			return fmt.Errorf("%s: %w", ControllerManager, err)
		}
	}
	var sched *scheduler
	if len(spec.SchedulerArgs) > 0 {
		if sched, err = newScheduler(spec.SchedulerArgs); err != nil {
			return fmt.Errorf("%s: %w", Scheduler, err)
		}
	}
	registry := api.opts.GenericServerRunOptions.ComponentGlobalsRegistry
	if err := registry.Set(); err != nil {
		return err
	}
	featureGate := registry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	// 2. Logging, once: the apiserver's logging options configure klog; the
	// global klog output (all code that does not log contextually) goes to
	// the apiserver log. The controller-manager and scheduler get contextual
	// loggers writing to their own files.
	apiLog, err := openLog(spec.APIServerLogFile)
	if err != nil {
		return err
	}
	logOpts := &logsapi.LoggingOptions{ErrorStream: apiLog, InfoStream: apiLog}
	if err := logsapi.ValidateAndApplyWithOptions(api.opts.Logs, logOpts, featureGate); err != nil {
		return err
	}

	// Each component runs with its own context so that a stop can be
	// ordered (see stopAll); a failing component ends the process at once.
	exits := make(chan exit, 3)
	var comps []*component
	startComp := func(name string, logger io.Writer, verbosity int, run func(context.Context) error) *component {
		c := &component{name: name, done: make(chan struct{})}
		cctx := context.Background()
		if logger != nil {
			cctx = withLogger(cctx, logger, verbosity, name)
		}
		cctx, c.cancel = context.WithCancel(cctx)
		go func() {
			defer close(c.done)
			err := run(cctx)
			exits <- exit{name, err}
		}()
		comps = append(comps, c)
		klog.InfoS("kplane: started component", "component", name)
		return c
	}
	failed := func(e exit) error {
		stopping.Store(true)
		if e.err == nil {
			return fmt.Errorf("%s returned unexpectedly", e.name)
		}
		return fmt.Errorf("%s: %w", e.name, e.err)
	}

	// 3. kube-apiserver, until /readyz answers 200.
	startComp(APIServer, nil, 0, api.run)
	startControllerAccounts(ctx, spec)
	readyCtx, readyCancel := context.WithTimeout(ctx, ReadyTimeout)
	readyErr := make(chan error, 1)
	go func() { readyErr <- waitReadyz(readyCtx, spec) }()
	select {
	case err := <-readyErr:
		readyCancel()
		if err != nil && ctx.Err() == nil {
			return failed(exit{APIServer, fmt.Errorf("not ready after %s: %w", ReadyTimeout, err)})
		}
	case e := <-exits:
		readyCancel()
		return failed(e)
	}

	// 4. controller-manager and scheduler.
	if ctx.Err() == nil {
		if cm != nil {
			w, err := openLog(spec.ControllerManagerLogFile)
			if err != nil {
				return err
			}
			startComp(ControllerManager, w, int(cm.opts.Logs.Verbosity), cm.run)
		}
		if sched != nil {
			w, err := openLog(spec.SchedulerLogFile)
			if err != nil {
				return err
			}
			startComp(Scheduler, w, int(sched.opts.Logs.Verbosity), sched.run)
		}
		klog.InfoS("kplane: control plane up", "components", len(comps))
		go settle(ctx, spec)
	}

	// 5. Run until a component returns (failure) or ctx is done (stop).
	select {
	case e := <-exits:
		return failed(e)
	case <-ctx.Done():
	}
	stopStep("stop requested")
	stopAll(comps, apiServerAddr(spec))
	return nil
}

// component is one running component.
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// stopping is set once Run stops the components; klog.FlushAndExit calls
// made by a component while it stops then end only that goroutine.
var stopping atomicBool

func init() {
	// kube-controller-manager (without the alpha gate
	// ControllerManagerReleaseLeaderElectionLockOnExit) calls
	// klog.FlushAndExit(1) when its leader election ends, even when asked to
	// stop: in a shared process that would end everything with status 1.
	klog.OsExit = func(code int) {
		if stopping.Load() {
			klog.Flush()
			runtime.Goexit() // unwinds the calling goroutine only
		}
		os.Exit(code)
	}
}

var runOnce atomicBool

type exit struct {
	name string
	err  error
}

// settle switches to the steady-state GOGC once startup is over and returns
// freed memory to the OS.
func settle(ctx context.Context, spec controlplane.ProcessSpec) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(SettleDelay):
	}
	if spec.GOGC > 0 {
		debug.SetGCPercent(spec.GOGC)
	}
	debug.FreeOSMemory()
}

func withLogger(ctx context.Context, w io.Writer, v int, name string) context.Context {
	logger := textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(w), textlogger.Verbosity(v)))
	return klog.NewContext(ctx, logger.WithName(name))
}

// waitReadyz polls spec.ReadyzURL until it returns 200.
func waitReadyz(ctx context.Context, spec controlplane.ProcessSpec) error {
	caPEM, err := os.ReadFile(spec.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s: no certificates", spec.CAFile)
	}
	pair, err := tls.LoadX509KeyPair(spec.ClientCertFile, spec.ClientKeyFile)
	if err != nil {
		return err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	last := errors.New("no response")
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.Replace(spec.ReadyzURL, "/readyz", "/healthz", 1), nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("readyz: HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond): // loopback, refused until it listens: cheap
		}
	}
}

// parseFlags parses args into the named flag sets.
func parseFlags(name string, nfs cliflag.NamedFlagSets, args []string) error {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)
	for _, f := range nfs.FlagSets {
		fs.AddFlagSet(f)
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// kube-apiserver, as cmd/kube-apiserver/app.NewAPIServerCommand's RunE.
type apiServer struct {
	opts *apiserveroptions.ServerRunOptions
}

func newAPIServer(args []string) (*apiServer, error) {
	s := apiserveroptions.NewServerRunOptions()
	// kube-apiserver keeps a successful token for 10 s on top of the webhook's
	// own cache (--authentication-token-webhook-cache-ttl); kplane wants the
	// webhook's TTL alone to bound how long revoked access lingers.
	s.Authentication.TokenSuccessCacheTTL = 0
	nfs := s.Flags()
	setFlagz(s, nfs)
	if err := parseFlags(APIServer, nfs, args); err != nil {
		return nil, err
	}
	return &apiServer{opts: s}, nil
}

func (a *apiServer) run(ctx context.Context) error {
	s := a.opts
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return errors.Join(errs...)
	}
	fg := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	fg.(featuregate.MutableFeatureGate).AddMetrics()
	s.GenericServerRunOptions.ComponentGlobalsRegistry.AddMetrics()
	return runAPIServer(ctx, completed)
}

// kube-controller-manager, as NewControllerManagerCommand's RunE.
type controllerManager struct {
	opts *cmoptions.KubeControllerManagerOptions
}

func newControllerManager(args []string) (*controllerManager, error) {
	s, err := cmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	nfs := s.Flags(cmapp.KnownControllers(), cmapp.ControllersDisabledByDefault(), cmapp.ControllerAliases())
	s.ParsedFlags = &nfs
	if err := parseFlags(ControllerManager, nfs, args); err != nil {
		return nil, err
	}
	return &controllerManager{opts: s}, nil
}

func (c *controllerManager) run(ctx context.Context) error {
	cfg, err := c.opts.Config(ctx, cmapp.KnownControllers(), cmapp.ControllersDisabledByDefault(), cmapp.ControllerAliases())
	if err != nil {
		return err
	}
	return cmapp.Run(ctx, cfg.Complete())
}

// kube-scheduler, as NewSchedulerCommand's runCommand.
type scheduler struct {
	opts *schedoptions.Options
}

func newScheduler(args []string) (*scheduler, error) {
	opts := schedoptions.NewOptions()
	if err := parseFlags(Scheduler, *opts.Flags, args); err != nil {
		return nil, err
	}
	return &scheduler{opts: opts}, nil
}

func (s *scheduler) run(ctx context.Context) error {
	if err := nameSchedulerInformers(s.opts); err != nil {
		return err
	}
	cc, sched, err := schedapp.Setup(ctx, s.opts)
	if err != nil {
		return err
	}
	return schedapp.Run(ctx, cc, sched)
}
