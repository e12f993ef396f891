// Package pagingtest drives a paged listing as a client would while the
// listing changes under it: the last item of every page is deleted before
// the next page is asked for.
package pagingtest

import (
	"slices"
	"testing"
)

// A Page is one call of a listing: the items of the page asked for by token
// ("" for the first), and the token of the next page ("" after the last).
type Page func(token string) (items []string, next string, err error)

// ListDeletingBoundaries lists every page, deleting each page's last item
// with drop before asking for the next, and fails t unless each of want was
// listed exactly once (in any order) and at least one boundary was
// deleted.
func ListDeletingBoundaries(t testing.TB, want []string, list Page, drop func(item string) error) {
	t.Helper()
	var listed, deleted []string
	token := ""
	for range 100 {
		items, next, err := list(token)
		if err != nil {
			t.Fatalf("page after %v: %v", listed, err)
		}
		listed = append(listed, items...)
		if token = next; token == "" {
			break
		}
		if len(items) == 0 {
			t.Fatalf("an empty page before the end, after %v", listed)
		}
		boundary := items[len(items)-1]
		if err := drop(boundary); err != nil {
			t.Fatalf("delete %s: %v", boundary, err)
		}
		deleted = append(deleted, boundary)
	}
	if len(deleted) == 0 || !slices.Equal(slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("listed %v with %v deleted at the page boundaries, want each of %v once", listed, deleted, want)
	}
}

// SDKPage is list as a Page: the AWS SDK for Go's clients give and take
// tokens as *string, nil for none.
func SDKPage(list func(token *string) ([]string, *string, error)) Page {
	return func(token string) ([]string, string, error) {
		var in *string
		if token != "" {
			in = &token
		}
		items, next, err := list(in)
		if next == nil {
			return items, "", err
		}
		return items, *next, err
	}
}
