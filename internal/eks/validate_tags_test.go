package eks

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateTags(t *testing.T) {
	ip := InvalidParameter
	n := func(count int) map[string]string {
		m := map[string]string{}
		for i := range count {
			m[fmt.Sprintf("key%d", i)] = "v"
		}
		return m
	}
	cases := []struct {
		name string
		tags map[string]string
		max  int
		msg  string // "" means valid
	}{
		{name: "nil", tags: nil},
		{name: "allowed characters", tags: map[string]string{"team/owner": "a.b_c:d/e=f+g-h@i", "Ünïcödé 名前 ١٢٣": "värde\u00a0x", "k": ""}},
		{name: "key of 128 and value of 256 characters", tags: map[string]string{strings.Repeat("é", 128): strings.Repeat("ß", 256)}},
		{name: "aws in the middle", tags: map[string]string{"my-aws:key": "aws:value"}},
		{name: "50 tags", tags: n(50)},
		{name: "limit from Limits", tags: n(3), max: 2, msg: "exceeds the limit of 2"},
		{name: "51 tags", tags: n(51), msg: "The number of tags (51) exceeds the limit of 50"},
		{name: "aws: prefix", tags: map[string]string{"aws:foo": "x"}, msg: "reserved"},
		{name: "AWS: prefix", tags: map[string]string{"AWS:foo": "x"}, msg: "reserved"},
		{name: "bare aws:", tags: map[string]string{"aws:": "x"}, msg: "reserved"},
		{name: "empty key", tags: map[string]string{"": "x"}, msg: "greater than or equal to 1"},
		{name: "key of 129 characters", tags: map[string]string{strings.Repeat("é", 129): "x"}, msg: "less than or equal to 128"},
		{name: "value of 257 characters", tags: map[string]string{"k": strings.Repeat("v", 257)}, msg: "less than or equal to 256"},
		{name: "key with !", tags: map[string]string{"a!": "x"}, msg: "The tag key 'a!' is not valid"},
		{name: "key with a newline", tags: map[string]string{"a\nb": "x"}, msg: "is not valid"},
		{name: "value with #", tags: map[string]string{"k": "#1"}, msg: "The tag value '#1' of tag key 'k' is not valid"},
		{name: "value with an emoji", tags: map[string]string{"k": "🚀"}, msg: "The tag value"},
		{name: "invalid UTF-8", tags: map[string]string{"k\xff": "x"}, msg: "is not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := ip
			if tc.msg == "" {
				typ = ""
			}
			lim := testLimits()
			lim.MaxTags = tc.max
			checkError(t, validateTags(tc.tags, lim), typ, tc.msg, noFields, "")
		})
	}
}

func TestValidateTagKeys(t *testing.T) {
	ip := InvalidParameter
	fifty := make([]string, 50)
	for i := range fifty {
		fifty[i] = fmt.Sprint("k", i)
	}
	cases := []struct {
		name string
		keys []string
		msg  string
	}{
		{name: "one key", keys: []string{"env"}},
		{name: "50 keys", keys: fifty},
		{name: "key of any characters", keys: []string{"a#b"}},
		{name: "no keys", keys: nil, msg: "greater than or equal to 1"},
		{name: "51 keys", keys: append(fifty, "k50"), msg: "less than or equal to 50"},
		{name: "empty key", keys: []string{"env", ""}, msg: "greater than or equal to 1"},
		{name: "key of 129 characters", keys: []string{strings.Repeat("k", 129)}, msg: "less than or equal to 128"},
		{name: "aws: key", keys: []string{"Aws:cloudformation:stack-name"}, msg: "reserved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := ip
			if tc.msg == "" {
				typ = ""
			}
			checkError(t, validateTagKeys(tc.keys), typ, tc.msg, noFields, "")
		})
	}
}
