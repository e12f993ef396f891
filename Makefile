# `make test` is the project's test command (README, .ci/run).
.PHONY: test unit acceptance build node-deps

build:
	go build -o bin/kplane ./cmd/kplane

# Worker nodes run Debian's container runtime and CNI plugins (docs/nodes.md).
NODE_PACKAGES = containerd runc containernetworking-plugins iptables
node-deps:
	@command -v containerd >/dev/null && command -v runc >/dev/null && test -x /usr/lib/cni/bridge && command -v iptables >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y $(NODE_PACKAGES)

unit: node-deps
	go test -count=1 -timeout 20m ./...

acceptance:
	bash test/acceptance.sh

test: unit acceptance
