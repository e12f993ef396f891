package cwlogs

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/kplane/kplane/internal/paging/pagingtest"
)

// DescribeLogGroups and DescribeLogStreams (in each order a client may ask
// for) list every item that stays exactly once, although the last item of
// every page is deleted before the next page is asked for.
func TestPagingSurvivesDeletedBoundary(t *testing.T) {
	e := newTestEnv(t)
	var groups []string
	for i := range 9 {
		g := fmt.Sprintf("/paged/%d", i)
		e.must("CreateLogGroup", `{"logGroupName":"`+g+`"}`)
		groups = append(groups, g)
	}
	page := func(op, body, field, name string) pagingtest.Page {
		return func(token string) ([]string, string, error) {
			b := `{"limit":4` + body
			if token != "" {
				b += `,"nextToken":"` + token + `"`
			}
			out := e.must(op, b+`}`)
			var got []string
			for _, it := range out[field].([]any) {
				got = append(got, it.(map[string]any)[name].(string))
			}
			next, _ := out["nextToken"].(string)
			return got, next, nil
		}
	}
	t.Run("DescribeLogGroups", func(t *testing.T) {
		pagingtest.ListDeletingBoundaries(t, groups, page("DescribeLogGroups", `,"logGroupNamePrefix":"/paged/"`, "logGroups", "logGroupName"),
			func(g string) error {
				e.must("DeleteLogGroup", `{"logGroupName":"`+g+`"}`)
				return nil
			})
	})
	for n, order := range []string{`,"orderBy":"LogStreamName"`, `,"orderBy":"LogStreamName","descending":true`,
		`,"orderBy":"LastEventTime"`, `,"orderBy":"LastEventTime","descending":true`} {
		t.Run("DescribeLogStreams"+order, func(t *testing.T) {
			group := fmt.Sprintf("streams-%d", n)
			e.must("CreateLogGroup", `{"logGroupName":"`+group+`"}`)
			g, err := e.st.GetLogGroup(context.Background(), group)
			if err != nil {
				t.Fatal(err)
			}
			var streams []string
			for i := range 9 {
				s := fmt.Sprintf("stream-%d", i)
				e.put(group, s, int64(1_000_000+i%3), "line") // equal times too: the name breaks ties
				streams = append(streams, s)
			}
			pagingtest.ListDeletingBoundaries(t, streams, page("DescribeLogStreams", `,"logGroupName":"`+group+`"`+order, "logStreams", "logStreamName"),
				func(s string) error {
					for _, ext := range []string{".meta", ".log"} {
						if err := os.Remove(e.svc.events.path(g.ID, s, ext)); err != nil && !os.IsNotExist(err) {
							return err
						}
					}
					return nil
				})
		})
	}
}
