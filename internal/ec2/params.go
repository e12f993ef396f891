package ec2

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The ec2 protocol flattens a call's parameters into form keys: scalars as
// Name=v, lists as Name.N=v (N from 1), and structures in lists as
// Filter.N.Name, Filter.N.Value.M, Tag.N.Key, TagSpecification.N.Tag.M.Key.
// parse checks every key against the operation's spec, as EC2 does
// (UnknownParameter), and gathers the values in index order.

type kind int

const (
	scalar   kind = iota // Name=v
	list                 // Name.N=v
	filters              // Filter.N.Name, Filter.N.Value.M
	tags                 // Tag.N.Key, Tag.N.Value
	tagSpecs             // TagSpecification.N.ResourceType, TagSpecification.N.Tag.M.Key|Value
	nested               // Name.N.Member... or Name.Member...: structures, read with tree (nested.go)
)

// spec names an operation's parameters and their kinds.
type spec map[string]kind

// maxIndex bounds N in Name.N: EC2's lists are far shorter, and it keeps a
// request from naming list members it does not send.
const maxIndex = 1000

type filter struct {
	Name    string
	HasName bool
	Values  []string
}

type tagParam struct {
	Key, Value       string
	HasKey, HasValue bool
}

type tagSpec struct {
	ResourceType string
	Tags         []tagParam
}

// input is a call's parameters, checked against its operation's spec.
type input struct {
	scalars  map[string]string
	lists    map[string][]string
	filters  []filter
	tags     []tagParam
	tagSpecs []tagSpec
	// trees are the nested parameters, by name.
	trees map[string]*tree
}

func (in *input) str(name string) string { return in.scalars[name] }
func (in *input) has(name string) bool   { _, ok := in.scalars[name]; return ok }

// boolean reads a boolean parameter; absent is false.
func (in *input) boolean(name string) (bool, *apiError) {
	v, ok := in.scalars[name]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidValue(name, printable(v), "Expected a boolean: true or false.")
}

// integer reads an integer parameter within [lo, hi]; ok is false when absent.
func (in *input) integer(name string, lo, hi int) (n int, ok bool, e *apiError) {
	v, ok := in.scalars[name]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false, errorf(codeInvalidParameterValue, "Value ( %s ) for parameter %s is invalid. Parameter must be between %d and %d.", printable(v), name, lo, hi)
	}
	return n, true, nil
}

// indexed is one member of a list: its index and what follows it.
type indexed struct {
	n    int
	rest string // "" for Name.N, "Key" for Tag.N.Key
}

// splitIndex reads "N" or "N.rest" off s.
func splitIndex(s string) (indexed, bool, *apiError) {
	num, rest, _ := strings.Cut(s, ".")
	if num == "" || len(num) > 9 || num[0] == '0' {
		return indexed{}, false, nil
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return indexed{}, false, nil
		}
	}
	n, _ := strconv.Atoi(num)
	if n > maxIndex {
		return indexed{}, false, errorf(codeInvalidParameterValue, "List index %d is out of range: lists take at most %d members.", n, maxIndex)
	}
	return indexed{n: n, rest: rest}, true, nil
}

// parse checks the parameters v against s and gathers them. Action, Version
// and a presigned URL's X-Amz-* parameters are the protocol's own.
func parse(v url.Values, s spec) (*input, *apiError) {
	in := &input{scalars: map[string]string{}, lists: map[string][]string{}, trees: map[string]*tree{}}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lists := map[string]map[int]string{}
	type filterParts struct {
		f      filter
		values map[int]string
	}
	fs := map[int]*filterParts{}
	ts := map[int]*tagParam{}
	type specParts struct {
		resourceType string
		tags         map[int]*tagParam
	}
	ss := map[int]*specParts{}
	unknown := func(k string) *apiError {
		return errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(k))
	}
	for _, k := range keys {
		if k == "Action" || k == "Version" || strings.HasPrefix(k, "X-Amz-") {
			continue
		}
		val := ""
		if len(v[k]) > 0 {
			val = v[k][0]
		}
		name, rest, dotted := strings.Cut(k, ".")
		kd, known := s[name]
		if !known {
			return nil, unknown(k)
		}
		if kd == scalar {
			if dotted {
				return nil, unknown(k)
			}
			in.scalars[name] = val
			continue
		}
		if kd == nested {
			if !dotted {
				return nil, unknown(k)
			}
			if in.trees[name] == nil {
				in.trees[name] = &tree{path: name}
			}
			if e := in.trees[name].add(rest, val); e != nil {
				return nil, e
			}
			continue
		}
		ix, ok, e := splitIndex(rest)
		if e != nil {
			return nil, e
		}
		if !ok || !dotted {
			return nil, unknown(k)
		}
		switch kd {
		case list:
			if ix.rest != "" {
				return nil, unknown(k)
			}
			if lists[name] == nil {
				lists[name] = map[int]string{}
			}
			lists[name][ix.n] = val
		case filters:
			p := fs[ix.n]
			if p == nil {
				p = &filterParts{values: map[int]string{}}
				fs[ix.n] = p
			}
			switch sub, subRest, _ := strings.Cut(ix.rest, "."); {
			case ix.rest == "Name":
				p.f.Name, p.f.HasName = val, true
			case sub == "Value":
				m, ok, e := splitIndex(subRest)
				if e != nil {
					return nil, e
				}
				if !ok || m.rest != "" {
					return nil, unknown(k)
				}
				p.values[m.n] = val
			default:
				return nil, unknown(k)
			}
		case tags:
			p := ts[ix.n]
			if p == nil {
				p = &tagParam{}
				ts[ix.n] = p
			}
			if !setTagPart(p, ix.rest, val) {
				return nil, unknown(k)
			}
		case tagSpecs:
			p := ss[ix.n]
			if p == nil {
				p = &specParts{tags: map[int]*tagParam{}}
				ss[ix.n] = p
			}
			sub, subRest, _ := strings.Cut(ix.rest, ".")
			switch {
			case ix.rest == "ResourceType":
				p.resourceType = val
			case sub == "Tag":
				m, ok, e := splitIndex(subRest)
				if e != nil {
					return nil, e
				}
				if !ok {
					return nil, unknown(k)
				}
				tp := p.tags[m.n]
				if tp == nil {
					tp = &tagParam{}
					p.tags[m.n] = tp
				}
				if !setTagPart(tp, m.rest, val) {
					return nil, unknown(k)
				}
			default:
				return nil, unknown(k)
			}
		}
	}
	for name, m := range lists {
		for _, n := range sortedKeys(m) {
			in.lists[name] = append(in.lists[name], m[n])
		}
	}
	for _, n := range sortedKeys(fs) {
		f := fs[n].f
		for _, m := range sortedKeys(fs[n].values) {
			f.Values = append(f.Values, fs[n].values[m])
		}
		in.filters = append(in.filters, f)
	}
	for _, n := range sortedKeys(ts) {
		in.tags = append(in.tags, *ts[n])
	}
	for _, n := range sortedKeys(ss) {
		sp := tagSpec{ResourceType: ss[n].resourceType}
		for _, m := range sortedKeys(ss[n].tags) {
			sp.Tags = append(sp.Tags, *ss[n].tags[m])
		}
		in.tagSpecs = append(in.tagSpecs, sp)
	}
	return in, nil
}

func setTagPart(p *tagParam, part, val string) bool {
	switch part {
	case "Key":
		p.Key, p.HasKey = val, true
	case "Value":
		p.Value, p.HasValue = val, true
	default:
		return false
	}
	return true
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// queryParams merges the URL query and, for form posts, the body; body
// values win, as they are what the SDKs send.
func queryParams(rawQuery, contentType string, body []byte) url.Values {
	p, _ := url.ParseQuery(rawQuery) // keeps every well-formed pair
	if p == nil {
		p = url.Values{}
	}
	mediaType, _, _ := strings.Cut(contentType, ";")
	if strings.EqualFold(strings.TrimSpace(mediaType), "application/x-www-form-urlencoded") {
		form, _ := url.ParseQuery(string(body))
		for k, v := range form {
			p[k] = v
		}
	}
	return p
}
