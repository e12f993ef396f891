// Package versions is kplane's Kubernetes support calendar: which minors
// exist, their patch release, EKS platform version and support dates, and
// from those, each minor's support status on a given day and the default
// version EKS would pick. The calendar is data (calendar.json, embedded);
// an operator replaces it with a file of the same form (LoadFile).
//
// It imports nothing of Kubernetes: the components of each minor are found by
// Components (components.go), and run by internal/components in a child process.
package versions

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Support statuses, as EKS's DescribeClusterVersions names them (VersionStatus).
const (
	StandardSupport = "STANDARD_SUPPORT"
	ExtendedSupport = "EXTENDED_SUPPORT"
	Unsupported     = "UNSUPPORTED"
)

//go:embed calendar.json
var embedded []byte

// Minor is one Kubernetes minor of the calendar.
type Minor struct {
	Version                  string `json:"version"`                // "1.37"
	KubernetesPatchVersion   string `json:"kubernetesPatchVersion"` // "1.37.2"
	ReleaseDate              Date   `json:"releaseDate"`
	EndOfStandardSupportDate Date   `json:"endOfStandardSupportDate"`
	EndOfExtendedSupportDate Date   `json:"endOfExtendedSupportDate"`
	DefaultPlatformVersion   string `json:"defaultPlatformVersion"` // "eks.1"
}

// Status is the minor's support status on day now.
func (m Minor) Status(now time.Time) string {
	switch {
	case now.Before(m.EndOfStandardSupportDate.Time):
		return StandardSupport
	case now.Before(m.EndOfExtendedSupportDate.Time):
		return ExtendedSupport
	}
	return Unsupported
}

// Calendar is the list of minors, newest first.
type Calendar struct {
	// DefaultAfterDays is how long after its release a minor becomes the
	// default version: EKS keeps the previous minor as the default for a
	// while after a new one comes out.
	DefaultAfterDays int     `json:"defaultAfterDays"`
	Versions         []Minor `json:"versions"`
}

// Embedded is the calendar built into kplane.
func Embedded() Calendar {
	c, err := Parse(embedded)
	if err != nil {
		panic("versions: embedded calendar.json: " + err.Error())
	}
	return c
}

// LoadFile reads an operator's calendar; "" is the embedded one.
func LoadFile(path string) (Calendar, error) {
	if path == "" {
		return Embedded(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Calendar{}, err
	}
	c, err := Parse(b)
	if err != nil {
		return Calendar{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads a calendar and checks it: every field set, versions unique,
// the patch within its minor, dates in order. The minors come out newest first.
func Parse(b []byte) (Calendar, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw struct {
		Calendar
		Comment string `json:"comment"`
	}
	if err := dec.Decode(&raw); err != nil {
		return Calendar{}, err
	}
	c := raw.Calendar
	if len(c.Versions) == 0 {
		return Calendar{}, errors.New("no versions")
	}
	seen := map[string]bool{}
	for _, m := range c.Versions {
		if _, _, ok := ParseMinor(m.Version); !ok {
			return Calendar{}, fmt.Errorf("version %q is not MAJOR.MINOR", m.Version)
		}
		if seen[m.Version] {
			return Calendar{}, fmt.Errorf("version %s is listed twice", m.Version)
		}
		seen[m.Version] = true
		if !strings.HasPrefix(m.KubernetesPatchVersion, m.Version+".") {
			return Calendar{}, fmt.Errorf("version %s: kubernetesPatchVersion %q is not a patch of it", m.Version, m.KubernetesPatchVersion)
		}
		if !strings.HasPrefix(m.DefaultPlatformVersion, "eks.") {
			return Calendar{}, fmt.Errorf("version %s: defaultPlatformVersion %q is not eks.N", m.Version, m.DefaultPlatformVersion)
		}
		if m.ReleaseDate.IsZero() || !m.ReleaseDate.Before(m.EndOfStandardSupportDate.Time) || m.EndOfExtendedSupportDate.Before(m.EndOfStandardSupportDate.Time) {
			return Calendar{}, fmt.Errorf("version %s: dates must be releaseDate < endOfStandardSupportDate <= endOfExtendedSupportDate", m.Version)
		}
	}
	slices.SortFunc(c.Versions, func(a, b Minor) int { return CompareMinor(b.Version, a.Version) })
	return c, nil
}

// Find returns the calendar's entry for minor.
func (c Calendar) Find(minor string) (Minor, bool) {
	for _, m := range c.Versions {
		if m.Version == minor {
			return m, true
		}
	}
	return Minor{}, false
}

// Default is the version a cluster gets when CreateCluster names none, as
// EKS picks it: the newest minor in standard support that was released at
// least DefaultAfterDays before now; else the newest in standard support;
// else the newest of all. Only minors in offered count (nil: all).
func (c Calendar) Default(now time.Time, offered []string) string {
	var candidates []Minor
	for _, m := range c.Versions {
		if offered == nil || slices.Contains(offered, m.Version) {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	for _, m := range candidates {
		if m.Status(now) == StandardSupport && !now.Before(m.ReleaseDate.AddDate(0, 0, c.DefaultAfterDays)) {
			return m.Version
		}
	}
	for _, m := range candidates {
		if m.Status(now) == StandardSupport {
			return m.Version
		}
	}
	return candidates[0].Version
}

// ParseMinor reads "1.37" as (1, 37).
func ParseMinor(s string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || major < 0 || minor < 0 || s != fmt.Sprintf("%d.%d", major, minor) {
		return 0, 0, false
	}
	return major, minor, true
}

// CompareMinor orders "1.9" < "1.10"; a malformed version sorts first.
func CompareMinor(a, b string) int {
	aMaj, aMin, _ := ParseMinor(a)
	bMaj, bMin, _ := ParseMinor(b)
	if aMaj != bMaj {
		return aMaj - bMaj
	}
	return aMin - bMin
}

// IsNextMinor reports whether to is exactly one minor after from.
func IsNextMinor(from, to string) bool {
	fMaj, fMin, ok1 := ParseMinor(from)
	tMaj, tMin, ok2 := ParseMinor(to)
	return ok1 && ok2 && fMaj == tMaj && tMin == fMin+1
}

// Date is a calendar day in JSON as "2006-01-02" (UTC midnight).
type Date struct{ time.Time }

func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	d.Time = t
	return nil
}

func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.Format(time.DateOnly)) }
