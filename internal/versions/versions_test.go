package versions

import (
	"os"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// BuiltIn is what go.mod builds into kplane, and the embedded calendar has it.
func TestBuiltInMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "k8s.io/kubernetes v" + BuiltIn + "\n"; !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %q", strings.TrimSpace(want))
	}
	if _, ok := Embedded().Find(BuiltInMinor()); !ok {
		t.Fatalf("the embedded calendar has no %s", BuiltInMinor())
	}
}

func TestStatusAndDefault(t *testing.T) {
	c := Embedded()
	m134, _ := c.Find("1.34")
	for _, tc := range []struct {
		now, want string
	}{
		{"2026-12-01", StandardSupport}, {"2026-12-02", ExtendedSupport},
		{"2027-12-01", ExtendedSupport}, {"2027-12-02", Unsupported},
	} {
		if got := m134.Status(day(tc.now)); got != tc.want {
			t.Errorf("1.34 on %s: %s, want %s", tc.now, got, tc.want)
		}
	}
	// 1.37 came out on 2026-08-26: the default 60 days later, 1.36 before.
	for _, tc := range []struct{ now, want string }{
		{"2026-09-01", "1.36"}, {"2026-10-25", "1.37"}, {"2026-12-07", "1.37"},
	} {
		if got := c.Default(day(tc.now), nil); got != tc.want {
			t.Errorf("default on %s: %s, want %s", tc.now, got, tc.want)
		}
	}
	// Only offered minors count: without 1.37's program the default is 1.36.
	if got := c.Default(day("2026-12-07"), []string{"1.36", "1.35"}); got != "1.36" {
		t.Errorf("default among 1.36, 1.35: %s", got)
	}
	// Long after all support ended, the newest minor.
	if got := c.Default(day("2031-01-01"), nil); got != "1.37" {
		t.Errorf("default in 2031: %s", got)
	}
}

func TestParseRefusesBadCalendars(t *testing.T) {
	good := `{"version":"1.36","kubernetesPatchVersion":"1.36.3","releaseDate":"2026-06-10","endOfStandardSupportDate":"2027-08-10","endOfExtendedSupportDate":"2028-08-10","defaultPlatformVersion":"eks.4"}`
	for name, body := range map[string]string{
		"empty":         `{"versions":[]}`,
		"unknown field": `{"versions":[` + good + `],"bogus":1}`,
		"twice":         `{"versions":[` + good + `,` + good + `]}`,
		"bad minor":     `{"versions":[` + strings.Replace(good, `"version":"1.36"`, `"version":"1.36.0"`, 1) + `]}`,
		"foreign patch": `{"versions":[` + strings.Replace(good, `"1.36.3"`, `"1.35.3"`, 1) + `]}`,
		"platform":      `{"versions":[` + strings.Replace(good, `"eks.4"`, `"4"`, 1) + `]}`,
		"dates":         `{"versions":[` + strings.Replace(good, `"2027-08-10"`, `"2026-01-01"`, 1) + `]}`,
		"date form":     `{"versions":[` + strings.Replace(good, `"2026-06-10"`, `"June 10"`, 1) + `]}`,
	} {
		if _, err := Parse([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := Parse([]byte(`{"versions":[` + strings.Replace(strings.Replace(good, "1.36", "1.9", -1), "1.9.3", "1.9.3", 1) + `,` + good + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Versions[0].Version != "1.36" || c.Versions[1].Version != "1.9" {
		t.Errorf("not newest first: %+v", c.Versions)
	}
}

func TestNextMinor(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"1.36", "1.37", true}, {"1.9", "1.10", true}, {"1.36", "1.36", false},
		{"1.36", "1.38", false}, {"1.37", "1.36", false}, {"1.36", "1.37.0", false}, {"1.36", "2.0", false},
	} {
		if got := IsNextMinor(tc.from, tc.to); got != tc.want {
			t.Errorf("IsNextMinor(%s, %s) = %t", tc.from, tc.to, got)
		}
	}
}

// A minor other than the built-in one runs from its program beside kplane;
// a missing or foreign program is named, and leaves the minor out.
func TestOffered(t *testing.T) {
	dir := t.TempDir()
	exe := dir + "/kplane"
	if got, err := Executable(exe, BuiltInMinor()); err != nil || got != exe {
		t.Fatalf("built-in: %s %v", got, err)
	}
	write := func(minor, release string) {
		script := "#!/bin/sh\n[ \"$1\" = " + ReleaseCommand + " ] && echo v" + release + "\n"
		if err := os.WriteFile(dir+"/"+ProgramName(minor), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("1.36", "1.36.5")
	write("1.35", "1.34.4") // a program of the wrong minor
	off, missing := Embedded().Offered(t.Context(), exe)
	var got []string
	for _, m := range off.Versions {
		got = append(got, m.Version+"="+m.KubernetesPatchVersion)
	}
	if strings.Join(got, " ") != "1.37=1.37.2 1.36=1.36.5" {
		t.Errorf("offered %v", got)
	}
	if len(missing) != 2 || !strings.Contains(missing[0].Error(), "carries Kubernetes 1.34.4, not 1.35") ||
		!strings.Contains(missing[1].Error(), dir+"/kplane-k8s-1.34 is not an executable program") {
		t.Errorf("missing %v", missing)
	}
}
