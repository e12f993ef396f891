// Package cwlogs is kplane's CloudWatch Logs: log groups (in etcd), their
// streams and events (files under the data directory, see events.go), on the
// JSON 1.1 protocol (X-Amz-Target Logs_20140328.*), and the shipper that
// puts clusters' control-plane logs into /aws/eks/NAME/cluster.
package cwlogs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/paging"
	"github.com/kplane/kplane/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix of CloudWatch Logs calls.
const TargetPrefix = "Logs_20140328"

// DirName is the directory under DATA_DIR that holds log events.
const DirName = "cloudwatch-logs"

// Service is kplane's CloudWatch Logs for one account and region.
type Service struct {
	st        *store.Store
	events    *eventStore
	accountID string
	region    string
	now       func() time.Time
}

// New serves CloudWatch Logs over st, with events under DATA_DIR/cloudwatch-logs.
func New(st *store.Store, dataDir, accountID, region string) *Service {
	return &Service{st: st, events: &eventStore{dir: filepath.Join(dataDir, DirName)},
		accountID: accountID, region: region, now: time.Now}
}

// Handler serves the API, verifying SigV4 for the signing name "logs" with v.
func (s *Service) Handler(v *auth.Verifier, requestID func(*http.Request) string) *awsjson.Service {
	return &awsjson.Service{
		SigningName: "logs", TargetPrefix: TargetPrefix, Verifier: v, RequestID: requestID,
		InternalError: "ServiceUnavailableException", Resource: s.resource,
		Ops: map[string]awsjson.Op{
			"CreateLogGroup":        s.createLogGroup,
			"DescribeLogGroups":     s.describeLogGroups,
			"DeleteLogGroup":        s.deleteLogGroup,
			"PutRetentionPolicy":    s.putRetentionPolicy,
			"DeleteRetentionPolicy": s.deleteRetentionPolicy,
			"DescribeLogStreams":    s.describeLogStreams,
			"GetLogEvents":          s.getLogEvents,
			"FilterLogEvents":       s.filterLogEvents,
			"TagResource":           s.tagResource,
			"UntagResource":         s.untagResource,
			"ListTagsForResource":   s.listTagsForResource,
		},
	}
}

// Action is the IAM action of an operation ("logs:FilterLogEvents"); a log
// group's ARN (logGroupArn) is its resource.
func Action(op string) string { return "logs:" + op }

// resource is a call's log group ARN for IAM (logGroupName, or a
// resourceArn/logGroupArn as given); "*" for calls on no one group.
func (s *Service) resource(c *awsjson.Call) (string, map[string][]string) {
	var in struct {
		LogGroupName, LogGroupIdentifier, ResourceArn string
	}
	json.Unmarshal(c.Body, &in)
	switch {
	case in.ResourceArn != "":
		return in.ResourceArn, nil
	case strings.HasPrefix(in.LogGroupIdentifier, "arn:"):
		return in.LogGroupIdentifier, nil
	case in.LogGroupIdentifier != "":
		return s.groupArn(in.LogGroupIdentifier) + ":*", nil
	case in.LogGroupName != "" && c.Op != "DescribeLogGroups":
		return s.groupArn(in.LogGroupName) + ":*", nil
	}
	return "*", nil
}

func (s *Service) groupArn(name string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, s.accountID, name)
}

func unavailable(err error) *awsjson.Error {
	return &awsjson.Error{Type: "ServiceUnavailableException", Status: http.StatusInternalServerError, Message: "The service cannot complete the request: " + err.Error()}
}

func invalid(format string, args ...any) *awsjson.Error {
	return awsjson.Errorf("InvalidParameterException", format, args...)
}

func groupNotFound() *awsjson.Error {
	return awsjson.Errorf("ResourceNotFoundException", "The specified log group does not exist.")
}

var groupNamePattern = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]+$`)

func checkGroupName(v *awsjson.Validation, path string, name *string, required bool) {
	if required {
		v.Required(path, name != nil)
	}
	if name == nil {
		return
	}
	v.Length(path, *name, 1, 512)
	if *name != "" && !groupNamePattern.MatchString(*name) {
		v.Fail(path, *name, `Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`)
	}
}

// groupOf resolves logGroupName or logGroupIdentifier (a name or an ARN):
// exactly one must be given.
func (s *Service) groupOf(ctx context.Context, name, ident *string) (*store.LogGroup, *awsjson.Error) {
	switch {
	case name != nil && ident != nil:
		return nil, invalid("LogGroupName and LogGroupIdentifier are mutually exclusive parameters.")
	case name == nil && ident == nil:
		return nil, invalid("Should provide either logGroupName or logGroupIdentifier.")
	}
	n := ""
	if name != nil {
		var v awsjson.Validation
		checkGroupName(&v, "logGroupName", name, true)
		if e := v.Err(); e != nil {
			return nil, e
		}
		n = *name
	} else {
		n = strings.TrimSuffix(*ident, ":*")
		if rest, ok := strings.CutPrefix(n, "arn:"); ok {
			prefix := fmt.Sprintf("aws:logs:%s:%s:log-group:", s.region, s.accountID)
			if !strings.HasPrefix(rest, prefix) {
				return nil, groupNotFound()
			}
			n = strings.TrimPrefix(rest, prefix)
		}
	}
	g, err := s.st.GetLogGroup(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, groupNotFound()
	} else if err != nil {
		return nil, unavailable(err)
	}
	return g, nil
}

// retentionDays are the values PutRetentionPolicy accepts.
var retentionDays = map[int]bool{1: true, 3: true, 5: true, 7: true, 14: true, 30: true, 60: true, 90: true, 120: true,
	150: true, 180: true, 365: true, 400: true, 545: true, 731: true, 1096: true, 1827: true, 2192: true, 2557: true,
	2922: true, 3288: true, 3653: true}

func checkTags(v *awsjson.Validation, tags map[string]string) *awsjson.Error {
	if len(tags) > 50 {
		return awsjson.Errorf("TooManyTagsException", "A resource can have no more than 50 tags.")
	}
	for k, val := range tags {
		v.Length("tags.key", k, 1, 128)
		v.Length("tags.value", val, 0, 256)
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalid("Tag keys beginning with aws: are reserved.")
		}
	}
	return nil
}

// EnsureGroup makes the named group if it is missing (as EKS makes
// /aws/eks/NAME/cluster) and returns it.
func (s *Service) EnsureGroup(ctx context.Context, name string) (*store.LogGroup, error) {
	g, err := s.st.GetLogGroup(ctx, name)
	if err == nil {
		return g, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	g = &store.LogGroup{Name: name, ID: newGroupID(), CreationTime: s.now().UnixMilli()}
	if err := s.st.CreateLogGroup(ctx, g); errors.Is(err, store.ErrExists) {
		return s.st.GetLogGroup(ctx, name)
	} else if err != nil {
		return nil, err
	}
	return g, nil
}

func newGroupID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Service) createLogGroup(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName  *string           `json:"logGroupName"`
		Tags          map[string]string `json:"tags"`
		KmsKeyId      *string           `json:"kmsKeyId"`
		LogGroupClass *string           `json:"logGroupClass"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	checkGroupName(&v, "logGroupName", in.LogGroupName, true)
	if e := checkTags(&v, in.Tags); e != nil {
		return nil, e
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	if in.KmsKeyId != nil {
		return nil, invalid("kplane's CloudWatch Logs does not encrypt log groups with a KMS key (kmsKeyId)")
	}
	if in.LogGroupClass != nil && *in.LogGroupClass != "STANDARD" {
		return nil, invalid("Only the STANDARD log group class is supported")
	}
	g := &store.LogGroup{Name: *in.LogGroupName, ID: newGroupID(), CreationTime: s.now().UnixMilli()}
	if len(in.Tags) > 0 {
		g.Tags = in.Tags
	}
	err := s.st.CreateLogGroup(c.R.Context(), g)
	if errors.Is(err, store.ErrExists) {
		return nil, awsjson.Errorf("ResourceAlreadyExistsException", "The specified log group already exists")
	} else if err != nil {
		return nil, unavailable(err)
	}
	return nil, nil
}

type logGroupOut struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int   `json:"retentionInDays,omitempty"`
	MetricFilterCount int    `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	LogGroupArn       string `json:"logGroupArn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
}

func (s *Service) describeLogGroups(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupNamePrefix  *string  `json:"logGroupNamePrefix"`
		LogGroupNamePattern *string  `json:"logGroupNamePattern"`
		NextToken           *string  `json:"nextToken"`
		Limit               *int     `json:"limit"`
		LogGroupIdentifiers []string `json:"logGroupIdentifiers"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	checkGroupName(&v, "logGroupNamePrefix", in.LogGroupNamePrefix, false)
	v.Range("limit", in.Limit, 1, 50)
	if e := v.Err(); e != nil {
		return nil, e
	}
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, invalid("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
	}
	groups, err := s.st.ListLogGroups(c.R.Context())
	if err != nil {
		return nil, unavailable(err)
	}
	var matching []*store.LogGroup
	for _, g := range groups {
		switch {
		case in.LogGroupNamePrefix != nil && !strings.HasPrefix(g.Name, *in.LogGroupNamePrefix):
		case in.LogGroupNamePattern != nil && !strings.Contains(strings.ToLower(g.Name), strings.ToLower(*in.LogGroupNamePattern)):
		case len(in.LogGroupIdentifiers) > 0 && !identifies(in.LogGroupIdentifiers, g.Name, s.groupArn(g.Name)):
		default:
			matching = append(matching, g)
		}
	}
	after := ""
	if in.NextToken != nil {
		var ok bool
		if after, ok = groupsToken.Decode(*in.NextToken); !ok || after == "" {
			return nil, invalid("The specified nextToken is invalid.")
		}
	}
	limit := 50
	if in.Limit != nil {
		limit = *in.Limit
	}
	page, resume := paging.Page(matching, func(g *store.LogGroup) string { return g.Name }, after, limit)
	out := []logGroupOut{}
	for _, g := range page {
		out = append(out, s.groupOut(g))
	}
	var next *string
	if resume != "" {
		t := groupsToken.Encode(resume)
		next = &t
	}
	return struct {
		LogGroups []logGroupOut `json:"logGroups"`
		NextToken *string       `json:"nextToken,omitempty"`
	}{out, next}, nil
}

// groupsToken is DescribeLogGroups' nextToken: the name of the page's last group.
var groupsToken = paging.Token{Prefix: "g/"}

func identifies(ids []string, name, arn string) bool {
	for _, id := range ids {
		if id == name || strings.TrimSuffix(id, ":*") == arn {
			return true
		}
	}
	return false
}

func (s *Service) groupOut(g *store.LogGroup) logGroupOut {
	var stored int64
	if names, err := s.events.streams(g.ID); err == nil {
		for _, n := range names {
			_, _, _, size := s.events.edges(g.ID, n)
			stored += size
		}
	}
	arn := s.groupArn(g.Name)
	return logGroupOut{LogGroupName: g.Name, CreationTime: g.CreationTime, RetentionInDays: g.RetentionInDays,
		Arn: arn + ":*", LogGroupArn: arn, StoredBytes: stored, LogGroupClass: "STANDARD"}
}

func (s *Service) deleteLogGroup(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	checkGroupName(&v, "logGroupName", in.LogGroupName, true)
	if e := v.Err(); e != nil {
		return nil, e
	}
	g, err := s.st.DeleteLogGroup(c.R.Context(), *in.LogGroupName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, groupNotFound()
	} else if err != nil {
		return nil, unavailable(err)
	}
	// The record is gone first: a crash here leaves files no group names,
	// which SweepOrphans removes at the next start.
	if err := s.events.removeGroup(g.ID); err != nil {
		return nil, unavailable(err)
	}
	return nil, nil
}

// SweepOrphans removes event directories no log group names (left by a
// crash during DeleteLogGroup).
func (s *Service) SweepOrphans(ctx context.Context) error {
	groups, err := s.st.ListLogGroups(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, g := range groups {
		live[g.ID] = true
	}
	dirs, _ := filepath.Glob(filepath.Join(s.events.dir, "*"))
	for _, d := range dirs {
		if id := filepath.Base(d); !live[id] {
			s.events.removeGroup(id)
		}
	}
	return nil
}

func (s *Service) putRetentionPolicy(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName    *string `json:"logGroupName"`
		RetentionInDays *int    `json:"retentionInDays"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	checkGroupName(&v, "logGroupName", in.LogGroupName, true)
	v.Required("retentionInDays", in.RetentionInDays != nil)
	if e := v.Err(); e != nil {
		return nil, e
	}
	if !retentionDays[*in.RetentionInDays] {
		return nil, invalid("1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]", *in.RetentionInDays)
	}
	return nil, s.setRetention(c.R.Context(), *in.LogGroupName, in.RetentionInDays)
}

func (s *Service) setRetention(ctx context.Context, name string, days *int) *awsjson.Error {
	g, err := s.st.UpdateLogGroup(ctx, name, func(g *store.LogGroup) error {
		g.RetentionInDays = days
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return groupNotFound()
	} else if err != nil {
		return unavailable(err)
	}
	// Expired events go from disk at once (reads already hide them).
	if err := s.trimGroup(g); err != nil {
		return unavailable(err)
	}
	return nil
}

func (s *Service) deleteRetentionPolicy(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	checkGroupName(&v, "logGroupName", in.LogGroupName, true)
	if e := v.Err(); e != nil {
		return nil, e
	}
	return nil, s.setRetention(c.R.Context(), *in.LogGroupName, nil)
}
