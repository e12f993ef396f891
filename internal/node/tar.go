package node

import (
	"archive/tar"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// writeTar writes files (and their parent directories) as a tar stream in a
// fixed order with fixed timestamps.
func writeTar(w io.Writer, files map[string]File) error {
	tw := tar.NewWriter(w)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	sort.Strings(names)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := path.Dir(n); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		f := files[n]
		if f.Data == nil {
			f = files["/"+n]
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	return tw.Close()
}
