// Package localnodes is the node executor of `kplane serve`: it runs each
// managed nodegroup instance as a real worker node on this machine. A node
// is `kplane node-run` (internal/node) supervised as a child process
// (internal/supervise), in the instance's network namespace in its VPC
// (internal/nodenet), joined to its cluster; the executor reads the node's
// Ready condition and applies labels and taints through the cluster's API,
// and drains a node with the eviction API before it removes it.
package localnodes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/fileutil"
)

// maxNodeDirLen keeps DIR/c.sock (containerd's socket) inside the 100
// bytes node.Check allows a unix socket path (sun_path holds 108).
const maxNodeDirLen = 100 - len("/c.sock")

// instanceIDLen is the length of an EC2 instance id (i- and 17 hex digits).
const instanceIDLen = len("i-0123456789abcdef0")

// NodesDir is where the nodes of the kplane with data directory dataDir
// keep their directories: DATA/nodes, or, when that path is too long for
// containerd's socket or lies under a directory the node binds over
// (/var/lib, /var/log, /run), a short directory of its own under /var/tmp
// named by a hash of the data directory (it must outlive a kplane restart,
// so not /run, which the node's mount namespace shadows anyway).
func NodesDir(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	dir := filepath.Join(abs, "nodes")
	if len(dir)+1+instanceIDLen <= maxNodeDirLen && !shadowed(dir) {
		return dir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join("/var/tmp", "kplane-"+hex.EncodeToString(sum[:6]))
}

func shadowed(dir string) bool {
	for _, d := range []string{"/var/lib", "/var/log", "/run"} {
		if dir == d || strings.HasPrefix(dir, d+"/") {
			return true
		}
	}
	return false
}

// NodeDir is the directory of instance id's node.
func NodeDir(dataDir, instanceID string) string {
	return filepath.Join(NodesDir(dataDir), instanceID)
}

// ClusterImagesDir holds the image archives of `kplane images import
// --cluster`: every node of the cluster made later gets them too.
func ClusterImagesDir(dataDir, clusterID string) string {
	return filepath.Join(controlplane.ClusterDir(dataDir, clusterID), "images")
}

// owner is DIR/owner.json: the cluster a node directory belongs to, so
// that commands beside the server (images import) find a cluster's nodes.
type owner struct {
	ClusterName string `json:"clusterName"`
	ClusterID   string `json:"clusterID"`
	Nodegroup   string `json:"nodegroup"`
}

func ownerPath(dir string) string { return filepath.Join(dir, "owner.json") }

func writeOwner(dir string, o owner) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return fileutil.WriteFileIfChanged(ownerPath(dir), append(b, '\n'), 0o600)
}

func readOwner(dir string) (owner, bool) {
	var o owner
	b, err := os.ReadFile(ownerPath(dir))
	if err != nil || json.Unmarshal(b, &o) != nil {
		return o, false
	}
	return o, true
}

// NodeDirs are the node directories under NodesDir(dataDir).
func NodeDirs(dataDir string) []string {
	entries, err := os.ReadDir(NodesDir(dataDir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "i-") {
			out = append(out, filepath.Join(NodesDir(dataDir), e.Name()))
		}
	}
	return out
}

// ClusterNodeDirs are the directories of cluster id's nodes.
func ClusterNodeDirs(dataDir, clusterID string) []string {
	var out []string
	for _, d := range NodeDirs(dataDir) {
		if o, ok := readOwner(d); ok && o.ClusterID == clusterID {
			out = append(out, d)
		}
	}
	return out
}
