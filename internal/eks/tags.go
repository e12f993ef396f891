package eks

import (
	"errors"
	"maps"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// taggedCluster resolves a resource ARN to the cluster it names. Only cluster
// ARNs of this region and account name resources in kplane today.
func (a *API) taggedCluster(c *call) (string, *Error) {
	arn := c.params["resourceArn"]
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "eks" || parts[3] == "" || parts[4] == "" {
		return "", Errorf(BadRequest, "Invalid ARN: %s", arn)
	}
	kind, rest, _ := strings.Cut(parts[5], "/")
	if kind != "cluster" || rest == "" || strings.Contains(rest, "/") ||
		parts[3] != a.cfg.Region || parts[4] != a.cfg.AccountID {
		return "", Errorf(NotFound, "Resource %s not found", arn)
	}
	if _, err := a.cfg.Store.GetCluster(c.r.Context(), rest); err != nil {
		return "", Errorf(NotFound, "Resource %s not found", arn)
	}
	return rest, nil
}

// tagChanger resolves the path's resource ARN (a cluster or a nodegroup)
// to the function that changes its tags.
func (a *API) tagChanger(c *call) (func(func(map[string]string) *Error) (any, *Error), *Error) {
	if ng, ok, err := a.nodegroupArnTarget(c, c.params["resourceArn"]); ok {
		if err != nil {
			return nil, err
		}
		return func(f func(map[string]string) *Error) (any, *Error) { return a.changeNodegroupTags(c, ng, f) }, nil
	}
	name, err := a.taggedCluster(c)
	if err != nil {
		return nil, err
	}
	return func(f func(map[string]string) *Error) (any, *Error) { return a.changeTags(c, name, f) }, nil
}

func (a *API) tagResource(c *call) (any, *Error) {
	changeTags, err := a.tagChanger(c)
	if err != nil {
		return nil, err
	}
	var req shapes.TagResourceRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if len(req.Tags) == 0 {
		return nil, Errorf(BadRequest, "tags must contain at least one tag")
	}
	if err := validateTags(req.Tags, a.limits); err != nil {
		return nil, Errorf(BadRequest, "%s", err.Message)
	}
	return changeTags(func(tags map[string]string) *Error {
		maps.Copy(tags, req.Tags)
		if len(tags) > a.limits.MaxTags {
			return Errorf(BadRequest, "Resource can have at most %d tags; this request would make %d", a.limits.MaxTags, len(tags))
		}
		return nil
	})
}

func (a *API) untagResource(c *call) (any, *Error) {
	changeTags, err := a.tagChanger(c)
	if err != nil {
		return nil, err
	}
	keys := c.query["tagKeys"]
	if len(keys) == 0 {
		return nil, Errorf(BadRequest, "tagKeys must contain at least one key")
	}
	if err := validateTagKeys(keys); err != nil {
		return nil, Errorf(BadRequest, "%s", err.Message)
	}
	return changeTags(func(tags map[string]string) *Error {
		for _, k := range keys {
			delete(tags, k)
		}
		return nil
	})
}

func (a *API) changeTags(c *call, name string, change func(map[string]string) *Error) (any, *Error) {
	_, err := a.cfg.Store.UpdateCluster(c.r.Context(), name, func(rec *store.ClusterRecord) error {
		if rec.Cluster.Tags == nil {
			rec.Cluster.Tags = map[string]string{}
		}
		if e := change(rec.Cluster.Tags); e != nil {
			return e
		}
		return nil
	})
	var e *Error
	switch {
	case errors.As(err, &e):
		return nil, e
	case errors.Is(err, store.ErrNotFound):
		return nil, Errorf(NotFound, "Resource %s not found", c.params["resourceArn"])
	case err != nil:
		return nil, internal(err)
	}
	return map[string]any{}, nil
}

func (a *API) listTagsForResource(c *call) (any, *Error) {
	if ng, ok, err := a.nodegroupArnTarget(c, c.params["resourceArn"]); ok {
		if err != nil {
			return nil, err
		}
		return map[string]any{"tags": nonNilMap(ng.Nodegroup.Tags)}, nil
	}
	name, err := a.taggedCluster(c)
	if err != nil {
		return nil, err
	}
	rec, serr := a.cfg.Store.GetCluster(c.r.Context(), name)
	if serr != nil {
		return nil, Errorf(NotFound, "Resource %s not found", c.params["resourceArn"])
	}
	tags := rec.Cluster.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{"tags": tags}, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
