#!/usr/bin/env bash
# make conformance: the upstream Kubernetes conformance tests of sig-api-machinery
# against a kplane cluster, with e2e.test built from k8s.io/kubernetes at the
# version kplane's clusters run (go.mod), through the Go module proxy.
#
# kplane has no nodes yet, so only tests that need no running pod are run:
# admission and conversion webhooks (CustomResourceFieldSelectors too) and the
# sample aggregated apiserver run their servers as pods, two namespace tests wait for a running pod, and
# three garbage-collector tests size their pods by the schedulable nodes.
#
# Settings (environment): CONFORMANCE_DIR (default bin/conformance: e2e.test,
# kplane, the reports), CONFORMANCE_TIMEOUT (default 2h), CONFORMANCE_FOCUS,
# CONFORMANCE_SKIP (regular expressions over the tests' names).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
for tool in go aws kubectl curl; do
  command -v "$tool" >/dev/null || { echo "conformance: needs $tool" >&2; exit 1; }
done

out=${CONFORMANCE_DIR:-$repo/bin/conformance}
timeout=${CONFORMANCE_TIMEOUT:-2h}
focus=${CONFORMANCE_FOCUS:-'\[sig-api-machinery\].*\[Conformance\]'}
skip=${CONFORMANCE_SKIP:-'AdmissionWebhook|Aggregator|CustomResourceConversionWebhook|CustomResourceFieldSelectors|should ensure that all pods are removed when a namespace is deleted|OrderedNamespaceDeletion|should orphan pods created by rc if delete options say so|should keep the rc around until all its pods are deleted|should not delete dependents that have both valid owner and owner'}
k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' go.mod)
[ -n "$k8s" ] || { echo "conformance: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
mkdir -p "$out"

# e2e.test from a module of its own that requires k8s.io/kubernetes at $k8s
# with kplane's pins of the staging modules.
if [ "$(cat "$out/e2e.test.version" 2>/dev/null)" != "$k8s" ] || [ ! -x "$out/e2e.test" ]; then
  echo "--- building e2e.test $k8s (a large compile the first time)"
  mod=$out/module
  rm -rf "$mod" && mkdir -p "$mod"
  {
    echo "module kplane.local/conformance"
    echo
    awk '$1 == "go" { print; exit }' go.mod
    echo
    echo "require k8s.io/kubernetes $k8s"
    echo
    awk '/^replace \(/ { p = 1 } p { print } p && /^\)/ { exit }' go.mod
  } >"$mod/go.mod"
  (cd "$mod" && go test -mod=mod -c -o "$out/e2e.test" k8s.io/kubernetes/test/e2e)
  echo "$k8s" >"$out/e2e.test.version"
fi
go build -o "$out/kplane" ./cmd/kplane

# A kplane of its own, on a free port, and one cluster.
data=$(mktemp -d)
kplane_pid=
cleanup() {
  if [ -n "$kplane_pid" ]; then
    kill "$kplane_pid" 2>/dev/null || true
    wait "$kplane_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT
"$out/kplane" serve --data-dir "$data" --listen 127.0.0.1:0 >"$data/serve.out" 2>"$out/kplane.log" &
kplane_pid=$!
for _ in $(seq 600); do
  url=$(sed -n 's/.* is serving the EKS API at \([^;]*\);.*/\1/p' "$data/serve.out")
  [ -n "$url" ] && break
  kill -0 "$kplane_pid" || { echo "conformance: kplane exited" >&2; cat "$out/kplane.log" >&2; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "conformance: kplane not serving after 2 minutes" >&2; exit 1; }
export AWS_SHARED_CREDENTIALS_FILE=$data/credentials AWS_CONFIG_FILE=/dev/null AWS_ENDPOINT_URL=$url AWS_DEFAULT_REGION=us-west-2
subnets=$(aws ec2 describe-subnets --filters Name=default-for-az,Values=true --query 'Subnets[].SubnetId' --output text | tr '\t' ',')
aws eks create-cluster --name conformance --role-arn arn:aws:iam::000000000000:role/eks-cluster-role \
  --resources-vpc-config "subnetIds=$subnets" --query cluster.version --output text
while [ "$(aws eks describe-cluster --name conformance --query cluster.status --output text)" = CREATING ]; do sleep 1; done
aws eks describe-cluster --name conformance --query 'cluster.[status,version,endpoint]' --output text
"$out/kplane" kubeconfig conformance --data-dir "$data" >"$data/kubeconfig"

# No nodes: no node may be waited for, none counted.
echo "--- e2e.test $k8s: focus $focus, skip $skip, timeout $timeout"
mkdir -p "$out/report"
set +e
timeout --signal=INT "$timeout" "$out/e2e.test" --provider skeleton --kubeconfig "$data/kubeconfig" \
  --allowed-not-ready-nodes=-1 --num-nodes=0 --report-dir "$out/report" \
  --ginkgo.focus="$focus" --ginkgo.skip="$skip" --ginkgo.timeout="$timeout" --ginkgo.no-color \
  2>&1 | tee "$out/e2e.log"
status=${PIPESTATUS[0]}
set -e
grep -E '^(Ran [0-9]+ of|FAIL!|SUCCESS!)' "$out/e2e.log" || true
exit "$status"
