package cwlogs

import (
	"strings"
	"unicode"
)

// pattern is a CloudWatch Logs filter pattern of terms: every plain term
// must appear in the message ("ERROR", or "quoted phrase"), a ?term makes
// the pattern match when any ?term appears, and a -term must not appear.
// Terms match case-sensitively, as CloudWatch's do. JSON ({ $.x = ... })
// and space-delimited ([a, b]) patterns are refused as unsupported.
type pattern struct {
	all, any, none []string
}

// parsePattern reads a filter pattern; ok is false for a pattern kplane
// does not support or a quote left open.
func parsePattern(s string) (p pattern, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") || strings.HasPrefix(s, "%") {
		return p, false
	}
	for s = strings.TrimLeftFunc(s, unicode.IsSpace); s != ""; s = strings.TrimLeftFunc(s, unicode.IsSpace) {
		kind := byte(0)
		if s[0] == '?' || s[0] == '-' {
			kind, s = s[0], s[1:]
		}
		var term string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return p, false
			}
			term, s = s[1:1+end], s[2+end:]
		} else {
			end := strings.IndexFunc(s, unicode.IsSpace)
			if end < 0 {
				end = len(s)
			}
			term, s = s[:end], s[end:]
		}
		if term == "" {
			continue
		}
		switch kind {
		case '?':
			p.any = append(p.any, term)
		case '-':
			p.none = append(p.none, term)
		default:
			p.all = append(p.all, term)
		}
	}
	return p, true
}

// matchRaw is match on an undecoded event: a plain term missing from the
// raw line rules it out without decoding its message. ok is false when the
// message cannot be decoded.
func (p pattern) matchRaw(r *rawEvent) (msg string, match, ok bool) {
	for _, t := range p.all {
		if !r.mayContain(t) {
			return "", false, true
		}
	}
	if len(p.any) > 0 {
		some := false
		for _, t := range p.any {
			some = some || r.mayContain(t)
		}
		if !some {
			return "", false, true
		}
	}
	if msg, ok = r.message(); !ok {
		return "", false, false
	}
	return msg, p.match(msg), true
}

func (p pattern) match(msg string) bool {
	for _, t := range p.none {
		if strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.all {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}
