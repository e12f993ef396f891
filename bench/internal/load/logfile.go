package load

import (
	"bufio"
	"encoding/json"
	"os"
)

// EachLogLine decodes each JSON line of kplane's log at path into a new
// *T and calls fn with it; lines that are not JSON (the banner) are
// skipped. The benchmarks read their step tables from these lines.
func EachLogLine[T any](path string, fn func(*T)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l T
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			fn(&l)
		}
	}
	return sc.Err()
}
