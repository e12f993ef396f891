#!/usr/bin/env bash
# Acceptance: runs the README quick start exactly as written, with the aws CLI
# and kubectl, in a fresh HOME, killing kplane with SIGKILL and starting it
# again in the middle. Then checks that nothing of the cluster is left behind.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

# Keep Go's caches where they are before HOME moves.
export GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE) GOPATH=$(go env GOPATH)
work=$(mktemp -d)
export HOME=$work
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"; else failed=$((failed + 1)); echo "FAILED: $what"; fi
}
cleanup() {
  pkill -9 -f "kplane serve --data-dir $work/.kplane" 2>/dev/null || true
  pkill -9 -f "controlplane-run --dir $work/" 2>/dev/null || true
  pkill -9 -f "node-run --dir $work/" 2>/dev/null || true
  rm -rf "$work" "$repo/demo.kubeconfig"
}
trap cleanup EXIT

# The quick start block of the README, verbatim but for two hooks: a restart
# of kplane before waiting for the cluster, and the final kill naming the
# restarted process.
quickstart=$(awk '/^## Quick start/{q=1} q&&/^```sh$/{on=1;next} on&&/^```$/{exit} on' README.md)
[ -n "$quickstart" ] || { echo "no quick start block in README.md"; exit 1; }
# The restart goes before the line that waits for the cluster to be ACTIVE.
wait_active='while [ "$(aws eks describe-cluster --name demo --query cluster.status --output text)" = CREATING ]; do sleep 1; done'
grep -qxF "$wait_active" <<<"$quickstart" || { echo "no line waiting for demo to be ACTIVE in the quick start: $wait_active"; exit 1; }
grep -qx 'kill %1' <<<"$quickstart" || { echo "no 'kill %1' line in the quick start"; exit 1; }
script=$(awk -v wait="$wait_active" '$0 == wait { print "restart_kplane" } $0 == "kill %1" { print "kill \"$(cat \"$HOME/kplane.pid\")\""; next } { print }' <<<"$quickstart")

restart_kplane() {
  local pid
  pid=$(pgrep -f "kplane serve --data-dir $HOME/.kplane" | head -1)
  echo "--- SIGKILL kplane (pid $pid) and start it again"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  ./kplane serve --data-dir ~/.kplane >>"$HOME/kplane-restarted.log" 2>&1 &
  echo $! >"$HOME/kplane.pid"
  until curl -sf http://127.0.0.1:4599/_kplane/readyz >/dev/null; do sleep 0.2; done
  aws eks describe-cluster --name demo --query cluster.name --output text | grep -qx demo
}
export -f restart_kplane

echo "--- README quick start"
check "README quick start runs as written" bash -euxo pipefail -c "$script"

echo "--- what is left"
gone() { # gone PATTERN: no process matches within 30 s
  for _ in $(seq 150); do pgrep -f "$1" >/dev/null || return 0; sleep 0.2; done
  return 1
}
# The [k] keeps pgrep from matching the shell that runs it.
check "kplane stopped" gone "[k]plane serve --data-dir $work/.kplane"
check "no control-plane process left" gone "[c]ontrolplane-run --dir $work/"
check "no node agent left" gone "[n]ode-run --dir $work/"
check "no cluster files left" test -z "$(ls -A "$work/.kplane/clusters" 2>/dev/null)"
check "no node files left" test -z "$(ls -A "$work/.kplane/nodes" 2>/dev/null)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
