package ec2

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kplane/kplane/internal/paging"
)

// Filters, as EC2's Describe calls take them: a resource is listed when it
// matches every filter, and matches a filter when one of its values for the
// filter's name matches one of the filter's values. Values may use the
// wildcards * (any run of characters) and ? (one character); \ escapes them.
// tag:KEY (the value of tag KEY), tag-key and tag-value work on every kind.

// fields gives a resource's values for each filter name it supports.
type fields[T any] map[string]func(T) []string

// filterItems keeps the items that match every filter, or says which
// filter is invalid.
func filterItems[T any](items []T, fs []filter, known fields[T], tags func(T) map[string]string) ([]T, *apiError) {
	for _, f := range fs {
		if !f.HasName {
			return nil, errorf(codeInvalidParameterValue, "The filter 'null' is invalid")
		}
		_, isField := known[f.Name]
		tagKey, isTag := strings.CutPrefix(f.Name, "tag:")
		if !isField && !(isTag && tagKey != "") && f.Name != "tag-key" && f.Name != "tag-value" {
			return nil, errorf(codeInvalidParameterValue, "The filter '%s' is invalid", printable(f.Name))
		}
		if len(f.Values) == 0 {
			return nil, errorf(codeInvalidParameterValue, "The filter '%s' has no values: give it one or more.", printable(f.Name))
		}
	}
	var out []T
	for _, it := range items {
		keep := true
		for _, f := range fs {
			if !matchesAny(f.Values, valuesOf(it, f.Name, known, tags)) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, it)
		}
	}
	return out, nil
}

func valuesOf[T any](it T, name string, known fields[T], tags func(T) map[string]string) []string {
	if get, ok := known[name]; ok {
		return get(it)
	}
	t := tags(it)
	switch {
	case name == "tag-key":
		return keysOf(t)
	case name == "tag-value":
		var vs []string
		for _, v := range t {
			vs = append(vs, v)
		}
		return vs
	}
	if v, ok := t[strings.TrimPrefix(name, "tag:")]; ok {
		return []string{v}
	}
	return nil
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func matchesAny(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if match(p, v) {
				return true
			}
		}
	}
	return false
}

// match reports whether value matches pattern with EC2's wildcards. It
// backtracks only to the last *, so it takes at most len(pattern) *
// len(value) steps.
func match(pattern, value string) bool {
	type tok struct {
		r    rune
		star bool
		any  bool // ?
	}
	var toks []tok
	for i := 0; i < len(pattern); {
		r, n := utf8.DecodeRuneInString(pattern[i:])
		i += n
		switch {
		case r == '\\' && i < len(pattern):
			r, n = utf8.DecodeRuneInString(pattern[i:])
			i += n
			toks = append(toks, tok{r: r})
		case r == '*':
			toks = append(toks, tok{star: true})
		case r == '?':
			toks = append(toks, tok{any: true})
		default:
			toks = append(toks, tok{r: r})
		}
	}
	vals := []rune(value)
	ti, vi := 0, 0
	starT, starV := -1, 0
	for vi < len(vals) {
		switch {
		case ti < len(toks) && !toks[ti].star && (toks[ti].any || toks[ti].r == vals[vi]):
			ti++
			vi++
		case ti < len(toks) && toks[ti].star:
			starT, starV = ti, vi
			ti++
		case starT >= 0:
			starV++
			ti, vi = starT+1, starV
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}

// paginate returns, in key order, the page MaxResults and NextToken ask
// for, and the token of the next page. The token is the page's last key, so
// the next page resumes after it in order even if it is gone by then.
func paginate[T any](items []T, key func(T) string, in *input) ([]T, string, *apiError) {
	return paginateWithin(items, key, in, 5, 1000)
}

// paginateWithin is paginate for a call whose MaxResults is lo to hi.
func paginateWithin[T any](items []T, key func(T) string, in *input, lo, hi int) ([]T, string, *apiError) {
	limit, limited, e := in.integer("MaxResults", lo, hi)
	if e != nil {
		return nil, "", e
	}
	after := ""
	if tok := in.str("NextToken"); tok != "" {
		var ok bool
		if after, ok = nextToken.Decode(tok); !ok || after == "" {
			return nil, "", errorf(codeInvalidPaginationToken, "Invalid pagination token: %s", printable(tok))
		}
	}
	if !limited {
		limit = len(items)
	}
	page, resume := paging.Page(items, key, after, limit)
	if resume == "" {
		return page, "", nil
	}
	return page, nextToken.Encode(resume), nil
}

// nextToken is EC2's NextToken: the resume key, base64.
var nextToken = paging.Token{}

func boolString(b bool) []string { return []string{strconv.FormatBool(b)} }
