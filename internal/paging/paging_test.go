package paging

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func identity(s string) string { return s }

// Listing page by page while items, the boundary among them, are deleted and
// added between calls lists every item that stays exactly once, in order.
func TestPageResumesAfterDeletedBoundary(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e", "f", "g"}
	var got []string
	after := ""
	for range 10 {
		page, resume := Page(items, identity, after, 2)
		got = append(got, page...)
		if resume == "" {
			break
		}
		if resume != page[len(page)-1] {
			t.Fatalf("resume key %q is not the page's last item %q", resume, page[len(page)-1])
		}
		items = slices.DeleteFunc(items, func(s string) bool { return s == resume }) // the boundary goes
		after = resume
	}
	if want := []string{"a", "b", "c", "d", "e", "f", "g"}; !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestPageOrdersUnsortedItemsWithoutChangingThem(t *testing.T) {
	items := []string{"c", "a", "b"}
	page, resume := Page(items, identity, "", 2)
	if !slices.Equal(page, []string{"a", "b"}) || resume != "b" {
		t.Fatalf("first page %v resume %q", page, resume)
	}
	if !slices.Equal(items, []string{"c", "a", "b"}) {
		t.Fatalf("items changed to %v", items)
	}
	page, resume = Page(items, identity, "b", 2)
	if !slices.Equal(page, []string{"c"}) || resume != "" {
		t.Fatalf("second page %v resume %q", page, resume)
	}
}

func TestPageAfterEveryKeyAndBeyond(t *testing.T) {
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprint(i*2)) // 0 2 4 6 8
	}
	for _, tc := range []struct {
		after string
		want  []string
	}{{"", []string{"0", "2", "4", "6", "8"}}, {"3", []string{"4", "6", "8"}}, {"4", []string{"6", "8"}}, {"8", nil}, {"9", nil}} {
		page, resume := Page(items, identity, tc.after, 100)
		if !slices.Equal(page, tc.want) || resume != "" {
			t.Errorf("after %q: %v resume %q, want %v", tc.after, page, resume, tc.want)
		}
	}
	if page, resume := Page(items, identity, "", 0); len(page) != 0 || resume != "" {
		t.Errorf("limit 0: %v resume %q", page, resume)
	}
}

func TestToken(t *testing.T) {
	tok := Token{Prefix: "kp1:"}
	if key, ok := tok.Decode(tok.Encode("x/y")); !ok || key != "x/y" {
		t.Fatalf("round trip: %q %v", key, ok)
	}
	for _, bad := range []string{"!!", Token{}.Encode("x")} {
		if _, ok := tok.Decode(bad); ok {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

// In a descending order too, a deleted boundary resumes in order.
func TestPageByDescendingResumesAfterDeletedBoundary(t *testing.T) {
	descending := func(a, b string) int { return strings.Compare(b, a) }
	items := []string{"a", "b", "c", "d", "e"}
	var got []string
	after := ""
	for range 10 {
		page, resume := PageBy(items, identity, descending, after, 2)
		got = append(got, page...)
		if resume == "" {
			break
		}
		items = slices.DeleteFunc(items, func(s string) bool { return s == resume })
		after = resume
	}
	if want := []string{"e", "d", "c", "b", "a"}; !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}
