package ec2

import (
	"encoding/base64"
	"encoding/xml"
	"strconv"
	"strings"
)

//go:generate python3 gen_launch_template_schema.py

// LaunchTemplateData: checked against the model's members
// (launch_template_schema.go, generated from botocore's ec2 model), kept as
// the flattened keys the call sent, and written back in the response's
// element names, so every member EC2 takes round-trips.

type ltKind uint8

const (
	ltString ltKind = iota
	ltInt
	ltBool
	ltStruct
	ltList
)

// ltMember is a member of RequestLaunchTemplateData (or of a structure in
// it): its name in a request, its element in a response, its kind, and for
// a list the kind of its items; members are a structure's (or a list of
// structures' item's).
type ltMember struct {
	query, xml string
	kind       ltKind
	item       ltKind
	members    []ltMember
}

func findMember(ms []ltMember, query string) *ltMember {
	for i := range ms {
		if ms[i].query == query {
			return &ms[i]
		}
	}
	return nil
}

// checkLaunchTemplateData checks t against the model and returns it
// flattened (keys relative to LaunchTemplateData).
func checkLaunchTemplateData(t *tree) (map[string]string, *apiError) {
	out := map[string]string{}
	if t == nil {
		return out, nil
	}
	if e := checkLTStruct(t, launchTemplateDataMembers, "", out); e != nil {
		return nil, e
	}
	if ud, ok := out["UserData"]; ok {
		if _, err := base64.StdEncoding.DecodeString(ud); err != nil {
			return nil, errorf("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.")
		}
	}
	return out, nil
}

func unknownParam(t *tree) *apiError {
	return errorf(codeUnknownParameter, "The parameter %s is not recognized", printable(t.path))
}

func checkLTStruct(t *tree, ms []ltMember, at string, out map[string]string) *apiError {
	if t.leaf {
		return unknownParam(t)
	}
	for _, name := range sortedNames(t.kids) {
		m := findMember(ms, name)
		if m == nil {
			return unknownParam(t.kids[name])
		}
		if e := checkLTValue(t.kids[name], m.kind, m.item, m.members, at+name, out); e != nil {
			return e
		}
	}
	return nil
}

func checkLTValue(t *tree, kind, item ltKind, ms []ltMember, at string, out map[string]string) *apiError {
	switch kind {
	case ltStruct:
		return checkLTStruct(t, ms, at+".", out)
	case ltList:
		if t.leaf {
			return unknownParam(t)
		}
		items, e := t.items()
		if e != nil {
			return e
		}
		for i, it := range items {
			// Renumbered from 1, as EC2 keeps a list.
			if e := checkLTValue(it, item, 0, ms, at+"."+strconv.Itoa(i+1), out); e != nil {
				return e
			}
		}
		return nil
	}
	if !t.leaf || len(t.kids) > 0 {
		return unknownParam(t)
	}
	v := t.value
	switch kind {
	case ltInt:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return errorf(codeInvalidParameterValue, "Value (%s) for parameter %s is invalid. Expected an integer.", printable(v), printable(t.path))
		}
	case ltBool:
		switch strings.ToLower(v) {
		case "true", "false":
			v = strings.ToLower(v)
		default:
			return errorf(codeInvalidParameterValue, "Value (%s) for parameter %s is invalid. Expected a boolean: true or false.", printable(v), printable(t.path))
		}
	}
	out[at] = v
	return nil
}

// ltDataXML writes flattened data in ResponseLaunchTemplateData's elements.
type ltDataXML map[string]string

func (d ltDataXML) MarshalXML(enc *xml.Encoder, start xml.StartElement) error {
	root := &tree{}
	for k, v := range d {
		root.add(k, v)
	}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if err := writeLTStruct(enc, root, launchTemplateDataMembers); err != nil {
		return err
	}
	return enc.EncodeToken(start.End())
}

func writeLTStruct(enc *xml.Encoder, t *tree, ms []ltMember) error {
	for _, m := range ms {
		c := t.kids[m.query]
		if c == nil {
			continue
		}
		if err := writeLTValue(enc, c, m.xml, m.kind, m.item, m.members); err != nil {
			return err
		}
	}
	return nil
}

func writeLTValue(enc *xml.Encoder, t *tree, name string, kind, item ltKind, ms []ltMember) error {
	start := xml.StartElement{Name: xml.Name{Local: name}}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	switch kind {
	case ltStruct:
		if err := writeLTStruct(enc, t, ms); err != nil {
			return err
		}
	case ltList:
		items, _ := t.items()
		for _, it := range items {
			if err := writeLTValue(enc, it, "item", item, 0, ms); err != nil {
				return err
			}
		}
	default:
		if err := enc.EncodeToken(xml.CharData(t.value)); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}
