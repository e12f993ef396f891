// Package paging cuts listings into pages for the AWS APIs kplane speaks
// (EKS nextToken, EC2 NextToken, IAM Marker). A page ends at an item, and the
// next call resumes after that item's key in sort order, not at its
// position: items that come or go between calls, the page's last item
// included, make no other item be skipped or listed twice.
package paging

import (
	"encoding/base64"
	"slices"
	"strings"
)

// Page returns up to limit items that sort after the key after ("" starts at
// the first), ordered by key, and the key to resume after when more follow
// ("" when this page is the last). Keys must be unique. items is not changed.
func Page[T any](items []T, key func(T) string, after string, limit int) (page []T, resume string) {
	return PageBy(items, key, strings.Compare, after, limit)
}

// PageBy is Page in the order compare gives the keys, for a listing a
// client may ask for in another order (newest first, descending).
func PageBy[T any](items []T, key func(T) string, compare func(a, b string) int, after string, limit int) (page []T, resume string) {
	byKey := func(a, b T) int { return compare(key(a), key(b)) }
	if !slices.IsSortedFunc(items, byKey) {
		items = slices.Clone(items)
		slices.SortStableFunc(items, byKey)
	}
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(items, after, func(it T, k string) int { return compare(key(it), k) })
		if start < len(items) && key(items[start]) == after {
			start++
		}
	}
	end := min(start+max(limit, 0), len(items))
	page = items[start:end:end]
	if end < len(items) && len(page) > 0 {
		resume = key(page[len(page)-1])
	}
	return page, resume
}

// Token is a service's form of the resume key: Prefix and the key, in
// unpadded URL-safe base64, opaque to clients as AWS's tokens are.
type Token struct{ Prefix string }

// Encode is the token that resumes after key.
func (t Token) Encode(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.Prefix + key))
}

// Decode is the key tok resumes after; ok is false when tok is not a token
// of this form.
func (t Token) Decode(tok string) (key string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	return strings.CutPrefix(string(b), t.Prefix)
}
