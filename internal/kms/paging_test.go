package kms

import (
	"context"
	"fmt"
	"testing"

	"github.com/kplane/kplane/internal/paging/pagingtest"
)

// Each KMS listing that pages lists every item that stays exactly once,
// although the last item of every page is deleted before the next page is
// asked for.
func TestPagingSurvivesDeletedBoundary(t *testing.T) {
	e := newTestEnv(t)
	var keys, aliases, tagKeys []string
	tagged := e.createKey()
	for i := range 9 {
		id := e.createKey()
		keys = append(keys, id)
		alias := fmt.Sprintf("alias/paged-%d", i)
		e.must("CreateAlias", `{"AliasName":"`+alias+`","TargetKeyId":"`+tagged+`"}`)
		aliases = append(aliases, alias)
		tagKey := fmt.Sprintf("t%d", i)
		e.must("TagResource", `{"KeyId":"`+tagged+`","Tags":[{"TagKey":"`+tagKey+`","TagValue":"v"}]}`)
		tagKeys = append(tagKeys, tagKey)
	}
	// list pages op for body; field is the listed items' array and name each item's identity.
	list := func(op, body, field, name string) pagingtest.Page {
		return func(token string) ([]string, string, error) {
			b := `{"Limit":4` + body
			if token != "" {
				b += `,"Marker":"` + token + `"`
			}
			out := e.must(op, b+`}`)
			var got []string
			for _, it := range out[field].([]any) {
				got = append(got, it.(map[string]any)[name].(string))
			}
			next, _ := out["NextMarker"].(string)
			return got, next, nil
		}
	}
	t.Run("ListKeys", func(t *testing.T) {
		all := append([]string{tagged}, keys...)
		pagingtest.ListDeletingBoundaries(t, all, list("ListKeys", "", "Keys", "KeyId"), func(id string) error {
			if id == tagged { // the other listings still need it
				return nil
			}
			k, err := e.st.GetKMSKey(context.Background(), id)
			if err != nil {
				return err
			}
			return e.st.DeleteKMSKey(context.Background(), id, k.Revision)
		})
	})
	t.Run("ListAliases", func(t *testing.T) {
		pagingtest.ListDeletingBoundaries(t, aliases, list("ListAliases", `,"KeyId":"`+tagged+`"`, "Aliases", "AliasName"), func(alias string) error {
			e.must("DeleteAlias", `{"AliasName":"`+alias+`"}`)
			return nil
		})
	})
	t.Run("ListResourceTags", func(t *testing.T) {
		pagingtest.ListDeletingBoundaries(t, tagKeys, list("ListResourceTags", `,"KeyId":"`+tagged+`"`, "Tags", "TagKey"), func(key string) error {
			e.must("UntagResource", `{"KeyId":"`+tagged+`","TagKeys":["`+key+`"]}`)
			return nil
		})
	})
}
