package policy

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Condition is one operator on one key, e.g. StringLike aws:RequestTag/team.
type Condition struct {
	Op       string // the operator without IfExists or a set qualifier, e.g. "StringLike"
	IfExists bool
	Set      setQualifier
	Key      string // lower-cased: condition keys ignore case
	Values   []string
}

type setQualifier int

const (
	setNone setQualifier = iota
	setAnyValue
	setAllValues
)

type operator struct {
	negated bool
	match   func(cond, req string) bool
}

// operators are IAM's condition operators. A negated operator matches when
// no condition value matches the request's value.
var operators = map[string]operator{
	"StringEquals":              {false, func(c, r string) bool { return c == r }},
	"StringNotEquals":           {true, func(c, r string) bool { return c == r }},
	"StringEqualsIgnoreCase":    {false, strings.EqualFold},
	"StringNotEqualsIgnoreCase": {true, strings.EqualFold},
	"StringLike":                {false, func(c, r string) bool { return Glob(c, r) }},
	"StringNotLike":             {true, func(c, r string) bool { return Glob(c, r) }},
	"NumericEquals":             {false, numeric(func(c, r float64) bool { return r == c })},
	"NumericNotEquals":          {true, numeric(func(c, r float64) bool { return r == c })},
	"NumericLessThan":           {false, numeric(func(c, r float64) bool { return r < c })},
	"NumericLessThanEquals":     {false, numeric(func(c, r float64) bool { return r <= c })},
	"NumericGreaterThan":        {false, numeric(func(c, r float64) bool { return r > c })},
	"NumericGreaterThanEquals":  {false, numeric(func(c, r float64) bool { return r >= c })},
	"DateEquals":                {false, date(func(c, r time.Time) bool { return r.Equal(c) })},
	"DateNotEquals":             {true, date(func(c, r time.Time) bool { return r.Equal(c) })},
	"DateLessThan":              {false, date(func(c, r time.Time) bool { return r.Before(c) })},
	"DateLessThanEquals":        {false, date(func(c, r time.Time) bool { return !r.After(c) })},
	"DateGreaterThan":           {false, date(func(c, r time.Time) bool { return r.After(c) })},
	"DateGreaterThanEquals":     {false, date(func(c, r time.Time) bool { return !r.Before(c) })},
	"Bool":                      {false, strings.EqualFold},
	"BinaryEquals":              {false, binaryEquals},
	"IpAddress":                 {false, ipIn},
	"NotIpAddress":              {true, ipIn},
	"ArnEquals":                 {false, arnMatch(false)},
	"ArnLike":                   {false, arnMatch(true)},
	"ArnNotEquals":              {true, arnMatch(false)},
	"ArnNotLike":                {true, arnMatch(true)},
}

func parseConditions(raw json.RawMessage) ([]Condition, error) {
	var ops map[string]map[string]json.RawMessage
	if json.Unmarshal(raw, &ops) != nil {
		return nil, malformed(MsgSyntax)
	}
	var out []Condition
	for name, keys := range ops {
		c := Condition{}
		base := name
		if q, rest, ok := strings.Cut(base, ":"); ok {
			switch q {
			case "ForAnyValue":
				c.Set = setAnyValue
			case "ForAllValues":
				c.Set = setAllValues
			default:
				return nil, malformed("Invalid Condition type : " + name)
			}
			base = rest
		}
		if b, ok := strings.CutSuffix(base, "IfExists"); ok && base != "Null" {
			c.IfExists, base = true, b
		}
		if _, ok := operators[base]; !ok && base != "Null" {
			return nil, malformed("Invalid Condition type : " + name)
		}
		c.Op = base
		for key, vraw := range keys {
			values, err := conditionValues(vraw)
			if err != nil {
				return nil, err
			}
			if !strings.Contains(key, ":") {
				return nil, malformed(MsgVendor)
			}
			cc := c
			cc.Key = strings.ToLower(key)
			cc.Values = values
			out = append(out, cc)
		}
	}
	return out, nil
}

// conditionValues reads a value or list of values; JSON booleans and numbers
// are taken as their text, as IAM takes them.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var one any
	if json.Unmarshal(raw, &one) != nil {
		return nil, malformed(MsgSyntax)
	}
	list, isList := one.([]any)
	if !isList {
		list = []any{one}
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case bool:
			out = append(out, strconv.FormatBool(x))
		case float64:
			out = append(out, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			return nil, malformed(MsgSyntax)
		}
	}
	return out, nil
}

// matches evaluates c against the request's context.
func (c *Condition) matches(req *Request, vars bool) bool {
	got := req.values(c.Key)
	present := len(got) > 0
	if c.Op == "Null" {
		want := len(c.Values) > 0 && strings.EqualFold(c.Values[0], "true")
		return want != present
	}
	op := operators[c.Op]
	if !present {
		switch {
		case c.IfExists:
			return true
		case c.Set == setAllValues:
			return true
		case c.Set == setAnyValue:
			return false
		}
		return op.negated
	}
	values := c.Values
	if vars {
		values = make([]string, 0, len(c.Values))
		for _, v := range c.Values {
			if s, ok := substitute(v, req); ok {
				values = append(values, s)
			}
		}
	}
	// matchOne: one request value against the condition's values.
	matchOne := func(r string) bool {
		hit := false
		for _, v := range values {
			if op.match(v, r) {
				hit = true
				break
			}
		}
		return hit != op.negated
	}
	switch c.Set {
	case setAllValues:
		for _, r := range got {
			if !matchOne(r) {
				return false
			}
		}
		return true
	case setAnyValue:
		for _, r := range got {
			if matchOne(r) {
				return true
			}
		}
		return false
	}
	// A single-valued key (or a multi-valued one without a qualifier): a
	// positive operator needs some value to match; a negated one needs no
	// value to match any condition value.
	if op.negated {
		for _, r := range got {
			if !matchOne(r) {
				return false
			}
		}
		return true
	}
	for _, r := range got {
		if matchOne(r) {
			return true
		}
	}
	return false
}

func numeric(cmp func(c, r float64) bool) func(string, string) bool {
	return func(c, r string) bool {
		cv, err1 := strconv.ParseFloat(c, 64)
		rv, err2 := strconv.ParseFloat(r, 64)
		return err1 == nil && err2 == nil && cmp(cv, rv)
	}
}

func date(cmp func(c, r time.Time) bool) func(string, string) bool {
	return func(c, r string) bool {
		ct, ok1 := parseDate(c)
		rt, ok2 := parseDate(r)
		return ok1 && ok2 && cmp(ct, rt)
	}
}

// parseDate reads ISO 8601 (with or without seconds' fraction or zone) or
// epoch seconds, as IAM's date operators do.
func parseDate(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func binaryEquals(c, r string) bool {
	cb, err := base64.StdEncoding.DecodeString(c)
	return err == nil && string(cb) == r
}

// ipIn reports whether address r is in c, a CIDR or a single address.
func ipIn(c, r string) bool {
	addr, err := netip.ParseAddr(r)
	if err != nil {
		return false
	}
	if p, err := netip.ParsePrefix(c); err == nil {
		return p.Contains(addr.Unmap())
	}
	a, err := netip.ParseAddr(c)
	return err == nil && a == addr.Unmap()
}

// arnMatch compares ARNs part by part (the six colon-separated parts);
// ArnEquals and ArnLike both take wildcards in each part, as IAM does.
func arnMatch(_ bool) func(string, string) bool {
	return func(c, r string) bool {
		cp := strings.SplitN(c, ":", 6)
		rp := strings.SplitN(r, ":", 6)
		if len(cp) != 6 || len(rp) != 6 {
			return false
		}
		for i := range cp {
			if !Glob(cp[i], rp[i]) {
				return false
			}
		}
		return true
	}
}
