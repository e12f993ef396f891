package eks

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tag rules (the model's TagKey/TagValue/TagMap/TagKeyList and the AWS
// tagging rules): at most 50 tags; keys of 1-128 and values of up to 256
// characters; letters, numbers and spaces (\p{L}, \p{N}, \p{Z}) and
// _ . : / = + - @ only; keys starting with "aws:" in any case are reserved.

const tagPunctuation = "_.:/=+-@"

// tagCharsOK reports whether s is valid UTF-8 of the allowed characters.
func tagCharsOK(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Z, r) && !strings.ContainsRune(tagPunctuation, r) {
			return false
		}
	}
	return true
}

// reservedTagKey reports whether k starts with "aws:" in any ASCII case.
func reservedTagKey(k string) bool {
	return len(k) >= 4 && k[0]|0x20 == 'a' && k[1]|0x20 == 'w' && k[2]|0x20 == 's' && k[3] == ':'
}

const tagCharsRule = "Tag keys and values can contain only Unicode letters, digits, white space, and the following characters: _ . : / = + - @"

// checkTagKey applies the key rules.
func checkTagKey(k string) *Error {
	switch n := utf8.RuneCountInString(k); {
	case n < 1:
		return Errorf(InvalidParameter, "1 validation error detected: Value '' at 'tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > tagKeyMaxLen:
		return Errorf(InvalidParameter, "1 validation error detected: Value '%s' at 'tagKey' failed to satisfy constraint: Member must have length less than or equal to %d", k, tagKeyMaxLen)
	case reservedTagKey(k):
		return Errorf(InvalidParameter, "The tag key '%s' is not valid. Tag keys starting with 'aws:' are reserved for internal use", k)
	case !tagCharsOK(k):
		return Errorf(InvalidParameter, "The tag key '%s' is not valid. %s", k, tagCharsRule)
	}
	return nil
}

// validateTags checks TagResource/CreateCluster tags: at most lim.MaxTags, key 1-128 chars, value ≤256, no "aws:" prefix (case-insensitive), keys/values of the allowed characters (Unicode letters, digits, whitespace, _ . : / = + - @).
//
// The error is an InvalidParameterException without clusterName; callers add
// the fields or change the type their operation models (TagResource:
// BadRequestException).
func validateTags(tags map[string]string, lim Limits) *Error {
	most := lim.MaxTags
	if most <= 0 {
		most = defaultMaxTags
	}
	if len(tags) > most {
		return Errorf(InvalidParameter, "The number of tags (%d) exceeds the limit of %d tags per resource", len(tags), most)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same tag every time
	for _, k := range keys {
		if err := checkTagKey(k); err != nil {
			return err
		}
		v := tags[k]
		if utf8.RuneCountInString(v) > tagValueMaxLen {
			return Errorf(InvalidParameter, "1 validation error detected: Value '%s' at 'tags.%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, k, tagValueMaxLen)
		}
		if !tagCharsOK(v) {
			return Errorf(InvalidParameter, "The tag value '%s' of tag key '%s' is not valid. %s", v, k, tagCharsRule)
		}
	}
	return nil
}

// validateTagKeys checks UntagResource's tagKeys.
//
// Besides the model's bounds (1-50 keys of 1-128 characters) it refuses the
// reserved "aws:" keys, which users cannot remove. A key that is not on the
// resource is not an error (UntagResource ignores it).
func validateTagKeys(keys []string) *Error {
	if len(keys) < 1 {
		return Errorf(InvalidParameter, "1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(keys) > maxTagKeys {
		return Errorf(InvalidParameter, "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to %d", maxTagKeys)
	}
	for _, k := range keys {
		switch n := utf8.RuneCountInString(k); {
		case n < 1:
			return Errorf(InvalidParameter, "1 validation error detected: Value '' at 'tagKeys' failed to satisfy constraint: Member must have length greater than or equal to 1")
		case n > tagKeyMaxLen:
			return Errorf(InvalidParameter, "1 validation error detected: Value '%s' at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to %d", k, tagKeyMaxLen)
		case reservedTagKey(k):
			return Errorf(InvalidParameter, "The tag key '%s' is not valid. Tag keys starting with 'aws:' are reserved for internal use", k)
		}
	}
	return nil
}
