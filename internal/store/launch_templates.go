package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EC2 launch templates. A template's record holds its name, default and
// latest version numbers and tags; each version is its own key (a version
// carries user data of up to 16 KiB, and a template up to 10,000 versions):
//
//	/kplane/launch-templates/ID                  LaunchTemplate
//	/kplane/launch-template-names/NAME           ID (names are unique in the account and region)
//	/kplane/launch-template-versions/ID/NNNNNNNNNN   LaunchTemplateVersion
const (
	launchTemplatesPrefix = prefix + "launch-templates/"
	ltNamesPrefix         = prefix + "launch-template-names/"
	ltVersionsPrefix      = prefix + "launch-template-versions/"
	// MaxLaunchTemplateVersions is EC2's quota of versions per template.
	MaxLaunchTemplateVersions = 10000
)

func launchTemplateKey(id string) string { return launchTemplatesPrefix + id }
func ltNameKey(name string) string       { return ltNamesPrefix + name }
func ltVersionKey(id string, n int64) string {
	return fmt.Sprintf("%s%s/%010d", ltVersionsPrefix, id, n)
}

// ErrTooManyVersions refuses a version past MaxLaunchTemplateVersions.
var ErrTooManyVersions = errors.New("store: launch template has the most versions it may")

type LaunchTemplate struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	CreateTime     time.Time         `json:"createTime"`
	CreatedBy      string            `json:"createdBy"`
	DefaultVersion int64             `json:"defaultVersion"`
	LatestVersion  int64             `json:"latestVersion"`
	Tags           map[string]string `json:"tags,omitempty"`
}

type LaunchTemplateVersion struct {
	TemplateID  string    `json:"templateId"`
	Number      int64     `json:"number"`
	Description string    `json:"description,omitempty"`
	CreateTime  time.Time `json:"createTime"`
	CreatedBy   string    `json:"createdBy"`
	// Data is LaunchTemplateData as the ec2 protocol flattens it, relative
	// to LaunchTemplateData: "InstanceType", "SecurityGroupId.1",
	// "TagSpecification.1.Tag.1.Key", ...
	Data map[string]string `json:"data,omitempty"`
}

// CreateLaunchTemplate stores lt with its first version v: ErrExists when
// the name is taken.
func (s *Store) CreateLaunchTemplate(ctx context.Context, lt LaunchTemplate, v LaunchTemplateVersion) error {
	lt.DefaultVersion, lt.LatestVersion, v.Number, v.TemplateID = 1, 1, 1, lt.ID
	resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(ltNameKey(lt.Name)), "=", 0)).
		Then(putJSON(launchTemplateKey(lt.ID), lt), clientv3.OpPut(ltNameKey(lt.Name), lt.ID), putJSON(ltVersionKey(lt.ID, 1), v)).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrExists
	}
	return nil
}

// LaunchTemplateID is the id of the template named name.
func (s *Store) LaunchTemplateID(ctx context.Context, name string) (string, error) {
	resp, err := s.client.Get(ctx, ltNameKey(name))
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", ErrNotFound
	}
	return string(resp.Kvs[0].Value), nil
}

// GetLaunchTemplate reads the template with id, and its revision.
func (s *Store) GetLaunchTemplate(ctx context.Context, id string) (LaunchTemplate, int64, error) {
	resp, err := s.client.Get(ctx, launchTemplateKey(id))
	if err != nil {
		return LaunchTemplate{}, 0, err
	}
	if len(resp.Kvs) == 0 {
		return LaunchTemplate{}, 0, ErrNotFound
	}
	var lt LaunchTemplate
	if err := json.Unmarshal(resp.Kvs[0].Value, &lt); err != nil {
		return LaunchTemplate{}, 0, fmt.Errorf("store: %s: %w", resp.Kvs[0].Key, err)
	}
	return lt, resp.Kvs[0].ModRevision, nil
}

// LaunchTemplates lists every template, by id.
func (s *Store) LaunchTemplates(ctx context.Context) ([]LaunchTemplate, error) {
	return values(listJSON[LaunchTemplate](ctx, s, launchTemplatesPrefix))
}

// LaunchTemplateVersions lists the versions of template id ("" for every
// template's), in order.
func (s *Store) LaunchTemplateVersions(ctx context.Context, id string) ([]LaunchTemplateVersion, error) {
	p := ltVersionsPrefix
	if id != "" {
		p += id + "/"
	}
	return values(listJSON[LaunchTemplateVersion](ctx, s, p))
}

// LaunchTemplateVersion reads version n of template id.
func (s *Store) LaunchTemplateVersion(ctx context.Context, id string, n int64) (LaunchTemplateVersion, error) {
	resp, err := s.client.Get(ctx, ltVersionKey(id, n))
	if err != nil {
		return LaunchTemplateVersion{}, err
	}
	if len(resp.Kvs) == 0 {
		return LaunchTemplateVersion{}, ErrNotFound
	}
	var v LaunchTemplateVersion
	err = json.Unmarshal(resp.Kvs[0].Value, &v)
	return v, err
}

// values are the records listJSON read, as values.
func values[T any](ptrs []*T, err error) ([]T, error) {
	out := make([]T, 0, len(ptrs))
	for _, p := range ptrs {
		out = append(out, *p)
	}
	return out, err
}

// AddLaunchTemplateVersion adds v as the next version of template id, made
// by build from the template as it is: ErrNotFound without the template,
// ErrTooManyVersions at the quota, or build's error.
func (s *Store) AddLaunchTemplateVersion(ctx context.Context, id string, build func(lt LaunchTemplate) (LaunchTemplateVersion, error)) (LaunchTemplate, LaunchTemplateVersion, error) {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		lt, rev, err := s.GetLaunchTemplate(ctx, id)
		if err != nil {
			return lt, LaunchTemplateVersion{}, err
		}
		if lt.LatestVersion >= MaxLaunchTemplateVersions {
			return lt, LaunchTemplateVersion{}, ErrTooManyVersions
		}
		v, err := build(lt)
		if err != nil {
			return lt, v, err
		}
		lt.LatestVersion++
		v.TemplateID, v.Number = id, lt.LatestVersion
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(launchTemplateKey(id)), "=", rev)).
			Then(putJSON(launchTemplateKey(id), lt), putJSON(ltVersionKey(id, v.Number), v)).Commit()
		if err != nil {
			return lt, v, err
		}
		if txn.Succeeded {
			return lt, v, nil
		}
	}
	return LaunchTemplate{}, LaunchTemplateVersion{}, ErrConflict
}

// SetLaunchTemplateDefault makes version n the default of template id:
// ErrNotFound without the template, ErrNoVersion without the version.
func (s *Store) SetLaunchTemplateDefault(ctx context.Context, id string, n int64) (LaunchTemplate, error) {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		lt, rev, err := s.GetLaunchTemplate(ctx, id)
		if err != nil {
			return lt, err
		}
		lt.DefaultVersion = n
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(launchTemplateKey(id)), "=", rev)).
			Then(clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(ltVersionKey(id, n)), ">", 0)},
				[]clientv3.Op{putJSON(launchTemplateKey(id), lt)}, nil)).Commit()
		if err != nil {
			return lt, err
		}
		if txn.Succeeded {
			if !txn.Responses[0].GetResponseTxn().Succeeded {
				return lt, ErrNoVersion
			}
			return lt, nil
		}
	}
	return LaunchTemplate{}, ErrConflict
}

// ErrNoVersion is a launch template version that does not exist.
var ErrNoVersion = errors.New("store: no such launch template version")

// DeleteLaunchTemplate deletes template id and every version of it.
func (s *Store) DeleteLaunchTemplate(ctx context.Context, id string) (LaunchTemplate, error) {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		lt, rev, err := s.GetLaunchTemplate(ctx, id)
		if err != nil {
			return lt, err
		}
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(launchTemplateKey(id)), "=", rev)).
			Then(clientv3.OpDelete(launchTemplateKey(id)), clientv3.OpDelete(ltNameKey(lt.Name)),
				clientv3.OpDelete(ltVersionsPrefix+id+"/", clientv3.WithPrefix())).Commit()
		if err != nil {
			return lt, err
		}
		if txn.Succeeded {
			return lt, nil
		}
	}
	return LaunchTemplate{}, ErrConflict
}

// DeleteLaunchTemplateVersion deletes version n of template id: ErrNoVersion
// when it is not there, ErrInUse when it is the default.
func (s *Store) DeleteLaunchTemplateVersion(ctx context.Context, id string, n int64) error {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		lt, rev, err := s.GetLaunchTemplate(ctx, id)
		if err != nil {
			return err
		}
		if lt.DefaultVersion == n {
			return ErrInUse
		}
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(launchTemplateKey(id)), "=", rev)).
			Then(clientv3.OpDelete(ltVersionKey(id, n), clientv3.WithPrevKV())).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			if txn.Responses[0].GetResponseDeleteRange().Deleted == 0 {
				return ErrNoVersion
			}
			return nil
		}
	}
	return ErrConflict
}

// What a version's data says that a node honours.

// InstanceType is the version's instance type ("" when it sets none).
func (v LaunchTemplateVersion) InstanceType() string { return v.Data["InstanceType"] }

// ImageID is the version's AMI ("" when EKS picks it).
func (v LaunchTemplateVersion) ImageID() string { return v.Data["ImageId"] }

// SecurityGroupIDs are the groups of SecurityGroupIds and of the network
// interfaces' Groups.
func (v LaunchTemplateVersion) SecurityGroupIDs() []string {
	out := v.listed("SecurityGroupId")
	for i := 1; ; i++ {
		ni := "NetworkInterface." + strconv.Itoa(i)
		if _, ok := v.Data[ni+".DeviceIndex"]; !ok && len(v.listed(ni+".SecurityGroupId")) == 0 {
			return out
		}
		out = append(out, v.listed(ni+".SecurityGroupId")...)
	}
}

// InstanceTags are the tags the version gives instances (TagSpecification
// of ResourceType instance).
func (v LaunchTemplateVersion) InstanceTags() map[string]string {
	tags := map[string]string{}
	for i := 1; ; i++ {
		spec := "TagSpecification." + strconv.Itoa(i)
		rt, ok := v.Data[spec+".ResourceType"]
		if !ok {
			return tags
		}
		for j := 1; rt == "instance"; j++ {
			k, ok := v.Data[spec+".Tag."+strconv.Itoa(j)+".Key"]
			if !ok {
				break
			}
			tags[k] = v.Data[spec+".Tag."+strconv.Itoa(j)+".Value"]
		}
	}
}

// Has reports whether the version sets member (or anything under it).
func (v LaunchTemplateVersion) Has(member string) bool {
	for k := range v.Data {
		if k == member || strings.HasPrefix(k, member+".") {
			return true
		}
	}
	return false
}

// listed are the values of list: list.1, list.2, ... in order.
func (v LaunchTemplateVersion) listed(list string) []string {
	var out []string
	for i := 1; ; i++ {
		x, ok := v.Data[list+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, x)
	}
}
