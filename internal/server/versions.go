package server

import (
	"github.com/kplane/kplane/internal/ssm"
	"github.com/kplane/kplane/internal/versions"
)

// BuiltInOnly is the embedded calendar narrowed to the minor built into
// kplane: what a server offers when its Config names no Versions.
func BuiltInOnly() versions.Calendar {
	cal := versions.Embedded()
	m, ok := cal.Find(versions.BuiltInMinor())
	if !ok {
		panic("versions: the embedded calendar lacks the built-in minor " + versions.BuiltInMinor())
	}
	m.KubernetesPatchVersion = versions.BuiltIn
	return versions.Calendar{DefaultAfterDays: cal.DefaultAfterDays, Versions: []versions.Minor{m}}
}

// ssmVersions are the offered versions as the SSM parameters of node images name them.
func ssmVersions(cal versions.Calendar) []ssm.Version {
	out := make([]ssm.Version, 0, len(cal.Versions))
	for _, v := range cal.Versions {
		out = append(out, ssm.Version{Minor: v.Version, Patch: v.KubernetesPatchVersion, ReleaseDate: v.ReleaseDate.Time})
	}
	return out
}
