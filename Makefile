# `make test` is the project's test command (README, .ci/run): unit, e2e, then acceptance.
.PHONY: build unit e2e acceptance test conformance node-deps awscli-v2

# The kplane binary, for running it by hand: bin/kplane serve; beside it, one
# program per older Kubernetes minor, bin/kplane-k8s-1.NN from the Go module
# k8s/v1.NN (docs/versions.md), with the build tag k8s1.NN that picks kplane's
# code for that minor's APIs. Kubernetes compiles run under nice: the machine
# is shared.
K8S_MINORS = $(patsubst k8s/v%,%,$(wildcard k8s/v1.*))
build:
	go build -o bin/kplane ./cmd/kplane
	@for m in $(K8S_MINORS); do echo "go build -C k8s/v$$m -tags k8s$$m -o bin/kplane-k8s-$$m"; \
		nice -n 10 go build -C k8s/v$$m -tags k8s$$m -o ../../bin/kplane-k8s-$$m . || exit 1; done

# Worker nodes run Debian's container runtime and CNI plugins (docs/nodes.md).
NODE_PACKAGES = containerd runc containernetworking-plugins iptables
node-deps:
	@command -v containerd >/dev/null && command -v runc >/dev/null && test -x /usr/lib/cni/bridge && command -v iptables >/dev/null || \
		{ DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(NODE_PACKAGES); }

# `aws logs tail` exists only in aws-cli v2: Debian's awscli package puts it at
# /usr/bin/aws, after the pip aws-cli v1 on PATH, so `aws` stays v1 and
# TestAwsLogsTail calls /usr/bin/aws by its full path.
awscli-v2:
	@/usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2\.' || \
		{ DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends awscli; }

# Go tests of the packages: need nothing but Go (test/e2e is behind the e2e build tag).
unit:
	go test -count=1 -timeout 20m ./internal/... ./cmd/... ./bench/...

# End-to-end: the built kplane as its own process, driven by the aws CLI and kubectl.
# make build first, so that the per-minor programs' compile (minutes each on a
# cold cache) is not counted in the tests' timeout.
e2e: node-deps awscli-v2 build
	KPLANE_E2E_BIN=$(CURDIR)/bin/kplane go test -tags e2e -count=1 -timeout 45m ./test/e2e/

# The README's quick start, verbatim, with a SIGKILL restart of kplane in the middle (binds port 4599).
acceptance:
	bash test/acceptance.sh

test: unit e2e acceptance

# Upstream conformance: e2e.test built from k8s.io/kubernetes at the clusters' version, sig-api-machinery
# tests that need no pod, against a kplane cluster of its own. Not in make test (long: ~1 h); see test/conformance/run.sh.
conformance:
	bash test/conformance/run.sh
