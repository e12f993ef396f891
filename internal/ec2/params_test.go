package ec2

import (
	"net/url"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	v, _ := url.ParseQuery("Action=DescribeSubnets&Version=2016-11-15&DryRun=false" +
		"&SubnetId.2=subnet-b&SubnetId.1=subnet-a&SubnetId.10=subnet-j" +
		"&Filter.2.Name=tag:team&Filter.2.Value.1=a&Filter.1.Name=vpc-id&Filter.1.Value.2=vpc-2&Filter.1.Value.1=vpc-1" +
		"&TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.2.Key=b&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=1" +
		"&Tag.1.Key=k&X-Amz-Date=20260101T000000Z")
	in, e := parse(v, spec{"DryRun": scalar, "SubnetId": list, "Filter": filters, "TagSpecification": tagSpecs, "Tag": tags})
	if e != nil {
		t.Fatal(e)
	}
	if got := in.lists["SubnetId"]; !reflect.DeepEqual(got, []string{"subnet-a", "subnet-b", "subnet-j"}) {
		t.Errorf("list: %v", got)
	}
	want := []filter{{Name: "vpc-id", HasName: true, Values: []string{"vpc-1", "vpc-2"}}, {Name: "tag:team", HasName: true, Values: []string{"a"}}}
	if !reflect.DeepEqual(in.filters, want) {
		t.Errorf("filters: %+v", in.filters)
	}
	wantSpec := []tagSpec{{ResourceType: "subnet", Tags: []tagParam{{Key: "a", Value: "1", HasKey: true, HasValue: true}, {Key: "b", HasKey: true}}}}
	if !reflect.DeepEqual(in.tagSpecs, wantSpec) {
		t.Errorf("tag specs: %+v", in.tagSpecs)
	}
	if !reflect.DeepEqual(in.tags, []tagParam{{Key: "k", HasKey: true}}) {
		t.Errorf("tags: %+v", in.tags)
	}
	if dry, e := in.boolean("DryRun"); dry || e != nil {
		t.Errorf("DryRun: %v %v", dry, e)
	}

	for _, bad := range []string{"SubnetId=x", "SubnetId.0=x", "SubnetId.a=x", "SubnetId.1.x=y", "Filter.1=x", "Filter.1.Value=x",
		"Filter.1.Value.1.x=y", "Tag.1.Name=x", "TagSpecification.1.Tags.1.Key=x", "DryRun.1=true", "dryrun=true", "Nope=1", "SubnetId.-1=x", ".=x"} {
		v, _ := url.ParseQuery(bad)
		if _, e := parse(v, spec{"DryRun": scalar, "SubnetId": list, "Filter": filters, "TagSpecification": tagSpecs, "Tag": tags}); e == nil || e.code != codeUnknownParameter {
			t.Errorf("%s: %v", bad, e)
		}
	}
	v, _ = url.ParseQuery("SubnetId.1001=x")
	if _, e := parse(v, spec{"SubnetId": list}); e == nil || e.code != codeInvalidParameterValue {
		t.Errorf("index past the bound: %v", e)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, value string
		want           bool
	}{
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\?`, "a?", true},
		{"tag*val*", "tag-value-1", true},
		{"é?", "éa", true},
		{"**a**b", "xxaxxb", true},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := match(c.pattern, c.value); got != c.want {
			t.Errorf("match(%q, %q) = %v", c.pattern, c.value, got)
		}
	}
}

func TestRegionCode(t *testing.T) {
	for region, want := range map[string]string{
		"us-west-2": "usw2", "us-east-1": "use1", "ap-northeast-1": "apne1", "eu-central-1": "euc1",
		"ap-southeast-2": "apse2", "sa-east-1": "sae1", "ap-south-1": "aps1", "us-gov-west-1": "usgw1", "local": "local",
	} {
		if got := regionCode(region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
