package ec2

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// allParams is every operation's spec at once, so parsing meets every kind.
func allParams() spec {
	s := spec{}
	for _, op := range operations {
		for k, v := range op.params {
			s[k] = v
		}
	}
	return s
}

var fuzzSeeds = []string{
	"Action=DescribeVpcs&Version=2016-11-15",
	"Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.2.Name=tag:Name&Filter.2.Value.1=*a?b\\*",
	"Action=DescribeSubnets&SubnetId.1=subnet-0&SubnetId.1000=subnet-1&MaxResults=5&NextToken=AAAA",
	"Action=DescribeSecurityGroups&GroupName.1=default&GroupId.1=sg-1",
	"Action=DescribeAvailabilityZones&ZoneName.1=us-west-2a&ZoneId.1=usw2-az9&AllAvailabilityZones=true",
	"Action=CreateVpc&CidrBlock=10.0.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=x",
	"Action=CreateSubnet&VpcId=vpc-1&CidrBlock=10.0.0.0/24&AvailabilityZoneId=usw2-az1",
	"Action=CreateSecurityGroup&GroupName=a&GroupDescription=b&VpcId=vpc-1",
	"Action=CreateTags&ResourceId.1=vpc-1&Tag.1.Key=k&Tag.1.Value=v&DryRun=true",
	"Action=DeleteTags&ResourceId.1=sg-1&Tag.1.Key=k",
	"Action=DeleteVpc&VpcId=vpc-1",
	"Action=DeleteSubnet&SubnetId=subnet-%00",
	"Action=DeleteSecurityGroup&GroupName=web",
	"Action=Nope&Version=1",
	"Action=DescribeVpcs&Filter.01.Name=x&Filter.1.Value.99999999999=y&%zz",
	"Action=CreateTags&ResourceId.1=i-1&Tag.1.Key=aws:x",
}

// FuzzParse: parsing any form never panics, and what it returns holds no
// more members than the form has keys.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	all := allParams()
	f.Fuzz(func(t *testing.T, body string) {
		v, _ := url.ParseQuery(body)
		in, e := parse(v, all)
		if e != nil {
			if e.status != http.StatusBadRequest || e.code == "" {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		n := 0
		for _, l := range in.lists {
			n += len(l)
		}
		for _, f := range in.filters {
			n += len(f.Values)
		}
		if n > len(v) {
			t.Fatalf("%d members from %d keys", n, len(v))
		}
		for _, f := range in.filters {
			for _, p := range f.Values {
				match(p, f.Name) // bounded: must not hang
			}
		}
	})
}

// FuzzHandler sends any form body, signed, through the whole handler on a
// real store: the answer is never a 500 and always well-formed XML, quickly.
func FuzzHandler(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	e := newTestEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := e.signed(body)
		rec := httptest.NewRecorder()
		start := time.Now()
		e.h.ServeHTTP(rec, req)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("answer to %q is not XML: %v\n%s", body, err, rec.Body)
			}
		}
		if rec.Code != 200 && !strings.Contains(rec.Body.String(), "<Errors><Error><Code>") {
			t.Fatalf("error without EC2's document: %s", rec.Body)
		}
	})
}
