package ec2

import (
	"sort"
	"strconv"
	"strings"
)

// tree is a nested parameter as the ec2 protocol flattens it:
// IpPermissions.1.IpRanges.2.CidrIp=v is the value at path 1/IpRanges/2/CidrIp
// of tree IpPermissions. Readers take members by name (member) or list
// items in index order (items), after conform checked it against its shape.
type tree struct {
	path  string // the full parameter name up to here, for messages
	value string
	leaf  bool
	kids  map[string]*tree
}

func (t *tree) add(rest, val string) *apiError {
	cur := t
	for _, part := range strings.Split(rest, ".") {
		if part == "" {
			return errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(t.path+"."+rest))
		}
		if n, err := strconv.Atoi(part); err == nil && n > maxIndex {
			return errorf(codeInvalidParameterValue, "List index %d is out of range: lists take at most %d members.", n, maxIndex)
		}
		if cur.kids == nil {
			cur.kids = map[string]*tree{}
		}
		next := cur.kids[part]
		if next == nil {
			next = &tree{path: cur.path + "." + part}
			cur.kids[part] = next
		}
		cur = next
	}
	cur.value, cur.leaf = val, true
	return nil
}

// member is the child name, or nil.
func (t *tree) member(name string) *tree {
	if t == nil {
		return nil
	}
	return t.kids[name]
}

// str is the value of member name ("" when absent).
func (t *tree) str(name string) string {
	if c := t.member(name); c != nil {
		return c.value
	}
	return ""
}

// has reports whether member name was given.
func (t *tree) has(name string) bool { return t.member(name) != nil }

// integer reads member name; ok is false when absent.
func (t *tree) integer(name string) (n int, ok bool, e *apiError) {
	c := t.member(name)
	if c == nil {
		return 0, false, nil
	}
	n, err := strconv.Atoi(c.value)
	if err != nil {
		return 0, false, errorf(codeInvalidParameterValue, "Value (%s) for parameter %s is invalid. Expected an integer.", printable(c.value), printable(c.path))
	}
	return n, true, nil
}

// items are the numbered members (Name.1, Name.2, ...) in index order;
// another member is unknown.
func (t *tree) items() ([]*tree, *apiError) {
	if t == nil {
		return nil, nil
	}
	type kid struct {
		n int
		t *tree
	}
	var ks []kid
	for name, c := range t.kids {
		n, err := strconv.Atoi(name)
		if err != nil || n < 1 || name[0] == '0' {
			return nil, errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(c.path))
		}
		ks = append(ks, kid{n, c})
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].n < ks[j].n })
	out := make([]*tree, len(ks))
	for i, k := range ks {
		out[i] = k.t
	}
	return out, nil
}

// shape is what a nested parameter may hold: a structure's members, or a
// list's item; neither is a scalar.
type shape struct {
	members map[string]*shape
	item    *shape
}

func structOf(members map[string]*shape) *shape { return &shape{members: members} }
func listOf(item *shape) *shape                 { return &shape{item: item} }

// scalarShape is a leaf.
var scalarShape = &shape{}

// conform answers UnknownParameter for the first key under t that s does
// not have, as EC2 checks a call before doing anything.
func (t *tree) conform(s *shape) *apiError {
	if t == nil {
		return nil
	}
	bad := errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(t.path))
	switch {
	case s.item != nil:
		if t.leaf {
			return bad
		}
		for name, c := range t.kids {
			if n, err := strconv.Atoi(name); err != nil || n < 1 || name[0] == '0' {
				return errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(c.path))
			}
		}
		for _, name := range sortedNames(t.kids) {
			if e := t.kids[name].conform(s.item); e != nil {
				return e
			}
		}
	case s.members != nil:
		if t.leaf {
			return bad
		}
		for _, name := range sortedNames(t.kids) {
			m, ok := s.members[name]
			if !ok {
				return errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(t.kids[name].path))
			}
			if e := t.kids[name].conform(m); e != nil {
				return e
			}
		}
	default:
		if len(t.kids) > 0 {
			return bad
		}
	}
	return nil
}

func sortedNames(m map[string]*tree) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
