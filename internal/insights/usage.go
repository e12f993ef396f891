package insights

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// Scrape is what one kube-apiserver replica's /metrics said at a refresh.
type Scrape struct {
	Replica   string
	StartedAt time.Time // the replica process's start
	Metrics   io.Reader
}

// deprecatedAPI is one series of apiserver_requested_deprecated_apis: the
// apiserver sets it to 1 the first time a deprecated API is requested.
type deprecatedAPI struct {
	group, version, resource, subresource, removedRelease string
}

func (d deprecatedAPI) key() string {
	return d.group + "/" + d.version + "/" + d.resource + "/" + d.subresource
}

// parsed is what the insights read of one replica's metrics: the deprecated
// APIs it has served, and its request count for each.
type parsed struct {
	deprecated map[string]deprecatedAPI
	requests   map[string]float64
}

// parseMetrics reads the two series the insights need from the Prometheus
// text format. Only lines of those metrics are split, so the rest of a
// replica's (large) /metrics costs one prefix test per line.
func parseMetrics(r io.Reader) (parsed, error) {
	p := parsed{deprecated: map[string]deprecatedAPI{}, requests: map[string]float64{}}
	var totals []struct {
		key string
		v   float64
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "apiserver_requested_deprecated_apis{"):
			l, v, ok := series(line)
			if !ok || v == 0 {
				continue
			}
			d := deprecatedAPI{l["group"], l["version"], l["resource"], l["subresource"], l["removed_release"]}
			p.deprecated[d.key()] = d
		case strings.HasPrefix(line, "apiserver_request_total{"):
			l, v, ok := series(line)
			if !ok {
				continue
			}
			totals = append(totals, struct {
				key string
				v   float64
			}{deprecatedAPI{l["group"], l["version"], l["resource"], l["subresource"], ""}.key(), v})
		}
	}
	for _, t := range totals {
		if _, ok := p.deprecated[t.key]; ok {
			p.requests[t.key] += t.v
		}
	}
	return p, sc.Err()
}

// series splits `name{a="x",b="y"} 12` into its labels and value.
func series(line string) (map[string]string, float64, bool) {
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return nil, 0, false
	}
	labels := map[string]string{}
	rest := line[open+1 : end]
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
			return nil, 0, false
		}
		name := strings.TrimSpace(rest[:eq])
		val, n, ok := quoted(rest[eq+1:])
		if !ok {
			return nil, 0, false
		}
		labels[name] = val
		rest = strings.TrimPrefix(rest[eq+1+n:], ",")
	}
	fields := strings.Fields(line[end+1:])
	if len(fields) == 0 {
		return nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return labels, v, err == nil
}

// quoted reads a Prometheus label value at the start of s ("..." with \
// escapes) and how many bytes it took.
func quoted(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				if s[i] == 'n' {
					b.WriteByte('\n')
				} else {
					b.WriteByte(s[i])
				}
			}
		case '"':
			return b.String(), i + 1, true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, false
}

// Merge adds what the scrapes show since the last refresh to rec's usage:
// for each replica, requests beyond the counter last read (all of them if
// the replica restarted since, its counters having started from zero). Days
// older than Window are dropped. Replicas not scraped keep their counters,
// so a replica that is only briefly unreachable is not counted twice.
func Merge(rec *store.InsightsRecord, scrapes []Scrape, now time.Time) error {
	if rec.Replicas == nil {
		rec.Replicas = map[string]store.ReplicaCounters{}
	}
	byKey := map[string]*store.DeprecatedAPIUsage{}
	for i := range rec.Usage {
		u := &rec.Usage[i]
		byKey[deprecatedAPI{u.Group, u.Version, u.Resource, u.Subresource, ""}.key()] = u
	}
	day := now.UTC().Format(time.DateOnly)
	for _, s := range scrapes {
		p, err := parseMetrics(s.Metrics)
		if err != nil {
			return err
		}
		prev, seen := rec.Replicas[s.Replica]
		restarted := !seen || !prev.StartedAt.Equal(s.StartedAt)
		next := store.ReplicaCounters{StartedAt: s.StartedAt, Requests: map[string]float64{}}
		for key, d := range p.deprecated {
			// The gauge means at least one request, even if no request
			// counter matched its labels.
			total := max(p.requests[key], 1)
			next.Requests[key] = total
			added := total
			if !restarted && total >= prev.Requests[key] {
				added = total - prev.Requests[key]
			}
			u := byKey[key]
			if u == nil {
				rec.Usage = append(rec.Usage, store.DeprecatedAPIUsage{Group: d.group, Version: d.version,
					Resource: d.resource, Subresource: d.subresource, RemovedRelease: d.removedRelease, Daily: map[string]int{}})
				rebuild(rec, byKey)
				u = byKey[key]
			}
			if added > 0 {
				u.Daily[day] += int(added)
				u.LastRequest = now
			}
		}
		rec.Replicas[s.Replica] = next
	}
	expire(rec, now)
	return nil
}

// rebuild re-points byKey after rec.Usage grew (append may move it).
func rebuild(rec *store.InsightsRecord, byKey map[string]*store.DeprecatedAPIUsage) {
	for i := range rec.Usage {
		u := &rec.Usage[i]
		byKey[deprecatedAPI{u.Group, u.Version, u.Resource, u.Subresource, ""}.key()] = u
	}
}

// expire drops days older than Window, and APIs with no day left.
func expire(rec *store.InsightsRecord, now time.Time) {
	first := now.Add(-Window).UTC().Format(time.DateOnly)
	kept := rec.Usage[:0]
	for _, u := range rec.Usage {
		for d := range u.Daily {
			if d < first {
				delete(u.Daily, d)
			}
		}
		if len(u.Daily) > 0 {
			kept = append(kept, u)
		}
	}
	rec.Usage = kept
	sort.Slice(rec.Usage, func(i, j int) bool {
		a, b := rec.Usage[i], rec.Usage[j]
		return deprecatedAPI{a.Group, a.Version, a.Resource, a.Subresource, ""}.key() < deprecatedAPI{b.Group, b.Version, b.Resource, b.Subresource, ""}.key()
	})
}

// ForgetReplicas drops the counters of replicas that no longer exist.
func ForgetReplicas(rec *store.InsightsRecord, live []string) {
	for name := range rec.Replicas {
		found := false
		for _, l := range live {
			found = found || l == name
		}
		if !found {
			delete(rec.Replicas, name)
		}
	}
}
