package iam

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// params are a query-protocol call's parameters.
type params url.Values

func (p params) has(name string) bool { return url.Values(p).Has(name) }
func (p params) get(name string) string {
	return url.Values(p).Get(name)
}

// validator collects constraint failures and words them as AWS does:
//
//	2 validation errors detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; Value null at ...
type validator struct {
	p    params
	errs []string
}

func (v *validator) fail(field, value string, isNull bool, constraint string) {
	shown := "null"
	if !isNull {
		shown = "'" + quoteValue(value) + "'"
	}
	v.errs = append(v.errs, "Value "+shown+" at '"+field+"' failed to satisfy constraint: Member must "+constraint)
}

// err is the ValidationError for what failed, or nil.
func (v *validator) err() *apiError {
	switch len(v.errs) {
	case 0:
		return nil
	case 1:
		return validationError("1 validation error detected: " + v.errs[0])
	default:
		return validationError(fmt.Sprintf("%d validation errors detected: %s", len(v.errs), strings.Join(v.errs, "; ")))
	}
}

// str reads a string parameter: required or not, its length bounds (in
// characters) and a check with the pattern it names in messages. It returns
// the value and whether it was given.
func (v *validator) str(name, field string, required bool, minLen, maxLen int, ok func(string) bool, pattern string) (string, bool) {
	if !v.p.has(name) {
		if required {
			v.fail(field, "", true, "not be null")
		}
		return "", false
	}
	s := v.p.get(name)
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen:
		v.fail(field, s, false, fmt.Sprintf("have length greater than or equal to %d", minLen))
	case n > maxLen:
		v.fail(field, s, false, fmt.Sprintf("have length less than or equal to %d", maxLen))
	case ok != nil && !ok(s):
		v.fail(field, s, false, "satisfy regular expression pattern: "+pattern)
	}
	return s, true
}

// integer reads an integer parameter within [lo, hi].
func (v *validator) integer(name, field string, lo, hi int) (int, bool) {
	if !v.p.has(name) {
		return 0, false
	}
	s := v.p.get(name)
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		v.fail(field, s, false, "be an integer")
	case n < lo:
		v.fail(field, s, false, fmt.Sprintf("have value greater than or equal to %d", lo))
	case n > hi:
		v.fail(field, s, false, fmt.Sprintf("have value less than or equal to %d", hi))
	}
	return n, true
}

// Patterns of IAM's and STS's models, as their messages quote them.
const (
	patName        = `[\w+=,.@-]+`
	patSessionName = `[\w+=,.@-]*`
	patPath        = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	patPathPrefix  = `\u002F[\u0021-\u007F]*`
	patMarker      = `[\u0020-\u00FF]+`
	patDescription = `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`
	patPolicy      = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	patAccessKeyID = `[\w]+`
	patArn         = `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`
	patTagKey      = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	patTagValue    = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
)

func isWordChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// validName is [\w+=,.@-]+ (Java's \w: ASCII letters, digits, underscore).
func validName(s string) bool {
	for _, c := range s {
		if !isWordChar(c) && !strings.ContainsRune("+=,.@-", c) {
			return false
		}
	}
	return true
}

func validPath(s string) bool {
	if s == "/" {
		return true
	}
	if len(s) < 3 || s[0] != '/' || s[len(s)-1] != '/' {
		return false
	}
	return allRunes(s, func(c rune) bool { return c >= 0x21 && c <= 0x7e })
}

func validPathPrefix(s string) bool {
	return strings.HasPrefix(s, "/") && allRunes(s, func(c rune) bool { return c >= 0x21 && c <= 0x7f })
}

func validMarker(s string) bool {
	return allRunes(s, func(c rune) bool { return c >= 0x20 && c <= 0xff })
}

func validDescription(s string) bool {
	return allRunes(s, func(c rune) bool {
		return c == '\t' || c == '\n' || c == '\r' || c >= 0x20 && c <= 0x7e || c >= 0xa1 && c <= 0xff
	})
}

func validPolicyText(s string) bool {
	return allRunes(s, func(c rune) bool { return c == '\t' || c == '\n' || c == '\r' || c >= 0x20 && c <= 0xff })
}

func validAccessKeyID(s string) bool { return allRunes(s, isWordChar) }

func validArnText(s string) bool {
	return allRunes(s, func(c rune) bool {
		return c == '\t' || c == '\n' || c == '\r' || c >= 0x20 && c <= 0x7e || c == 0x85 ||
			c >= 0xa0 && c <= 0xd7ff || c >= 0xe000 && c <= 0xfffd || c >= 0x10000 && c <= 0x10ffff
	})
}

func validTagText(s string) bool {
	return allRunes(s, func(c rune) bool {
		return unicode.IsLetter(c) || unicode.In(c, unicode.Z) || unicode.IsNumber(c) || strings.ContainsRune("_.:/=+-@", c)
	})
}

func allRunes(s string, ok func(rune) bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !ok(c) {
			return false
		}
	}
	return true
}

// quoteValue keeps echoed client input short and printable.
func quoteValue(s string) string {
	const max = 256
	var b strings.Builder
	n := 0
	for _, c := range s {
		if n == max {
			b.WriteString("...")
			break
		}
		if unicode.IsPrint(c) || c == ' ' {
			b.WriteRune(c)
		} else {
			b.WriteRune('?')
		}
		n++
	}
	return b.String()
}

// maxTags is IAM's limit of tags on a user or role.
const maxTags = 50

// tags reads Tags.member.N.Key / .Value, N from 1.
func (v *validator) tags() ([]tag, *apiError) {
	var out []tag
	for i := 1; ; i++ {
		base := "Tags.member." + strconv.Itoa(i) + "."
		if !v.p.has(base+"Key") && !v.p.has(base+"Value") {
			break
		}
		field := "tags." + strconv.Itoa(i) + ".member."
		k, _ := v.str(base+"Key", field+"key", true, 1, 128, validTagText, patTagKey)
		val, _ := v.str(base+"Value", field+"value", true, 0, 256, validTagText, patTagValue)
		out = append(out, tag{Key: k, Value: val})
	}
	if len(out) > maxTags {
		v.errs = append(v.errs, fmt.Sprintf("Value '[...]' at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags))
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	seen := map[string]bool{}
	for _, t := range out {
		lk := strings.ToLower(t.Key)
		if seen[lk] {
			return nil, newError(400, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[lk] = true
		if strings.HasPrefix(lk, "aws:") {
			return nil, newError(400, "InvalidInput", "User-defined tag keys can't start with 'aws:'. This prefix is reserved for AWS tags.")
		}
	}
	return out, nil
}
