package ec2

import (
	"fmt"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// The shapes of launch templates and their Describe calls.

type launchTemplateItem struct {
	LaunchTemplateID     string  `xml:"launchTemplateId"`
	LaunchTemplateName   string  `xml:"launchTemplateName"`
	CreateTime           string  `xml:"createTime"`
	CreatedBy            string  `xml:"createdBy"`
	DefaultVersionNumber int64   `xml:"defaultVersionNumber"`
	LatestVersionNumber  int64   `xml:"latestVersionNumber"`
	TagSet               *tagSet `xml:"tagSet,omitempty"`
}

type launchTemplateVersionItem struct {
	LaunchTemplateID   string    `xml:"launchTemplateId"`
	LaunchTemplateName string    `xml:"launchTemplateName"`
	VersionNumber      int64     `xml:"versionNumber"`
	VersionDescription string    `xml:"versionDescription,omitempty"`
	CreateTime         string    `xml:"createTime"`
	CreatedBy          string    `xml:"createdBy"`
	DefaultVersion     bool      `xml:"defaultVersion"`
	LaunchTemplateData ltDataXML `xml:"launchTemplateData"`
}

type launchTemplateResult struct {
	LaunchTemplate launchTemplateItem `xml:"launchTemplate"`
}

type launchTemplateVersionResult struct {
	Version launchTemplateVersionItem `xml:"launchTemplateVersion"`
}

type describeLaunchTemplatesResult struct {
	LaunchTemplates itemSet[launchTemplateItem] `xml:"launchTemplates"`
	NextToken       string                      `xml:"nextToken,omitempty"`
}

type describeVersionsResult struct {
	Versions  itemSet[launchTemplateVersionItem] `xml:"launchTemplateVersionSet"`
	NextToken string                             `xml:"nextToken,omitempty"`
}

type responseError struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type deletedVersion struct {
	LaunchTemplateID   string `xml:"launchTemplateId"`
	LaunchTemplateName string `xml:"launchTemplateName"`
	VersionNumber      int64  `xml:"versionNumber"`
}

type deleteVersionFailure struct {
	LaunchTemplateID   string        `xml:"launchTemplateId"`
	LaunchTemplateName string        `xml:"launchTemplateName"`
	VersionNumber      int64         `xml:"versionNumber"`
	ResponseError      responseError `xml:"responseError"`
}

type deleteVersionsResult struct {
	Deleted itemSet[deletedVersion]       `xml:"successfullyDeletedLaunchTemplateVersionSet"`
	Failed  itemSet[deleteVersionFailure] `xml:"unsuccessfullyDeletedLaunchTemplateVersionSet"`
}

func (h *Handler) templateItem(lt store.LaunchTemplate) launchTemplateItem {
	return launchTemplateItem{
		LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, CreateTime: lt.CreateTime.UTC().Format(time.RFC3339),
		CreatedBy: lt.CreatedBy, DefaultVersionNumber: lt.DefaultVersion, LatestVersionNumber: lt.LatestVersion, TagSet: tagSetOf(lt.Tags),
	}
}

func (h *Handler) versionItem(lt store.LaunchTemplate, v store.LaunchTemplateVersion) launchTemplateVersionItem {
	return launchTemplateVersionItem{
		LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: v.Number, VersionDescription: v.Description,
		CreateTime: v.CreateTime.UTC().Format(time.RFC3339), CreatedBy: v.CreatedBy, DefaultVersion: v.Number == lt.DefaultVersion,
		LaunchTemplateData: ltDataXML(v.Data),
	}
}

func templateFields() fields[store.LaunchTemplate] {
	return fields[store.LaunchTemplate]{
		"launch-template-name": func(lt store.LaunchTemplate) []string { return []string{lt.Name} },
		"launch-template-id":   func(lt store.LaunchTemplate) []string { return []string{lt.ID} },
		"create-time":          func(lt store.LaunchTemplate) []string { return []string{lt.CreateTime.UTC().Format(time.RFC3339)} },
	}
}

func (h *Handler) describeLaunchTemplates(c *call) (any, *apiError) {
	ids, names := c.in.lists["LaunchTemplateId"], c.in.lists["LaunchTemplateName"]
	all, err := h.cfg.Store.LaunchTemplates(c.ctx)
	if err != nil {
		return nil, h.storeError(c, err)
	}
	lts := all
	if len(ids) > 0 || len(names) > 0 {
		lts = nil
		for _, id := range ids {
			if e := templateIDs.check(id); e != nil {
				return nil, e
			}
		}
		find := func(match func(store.LaunchTemplate) bool) (store.LaunchTemplate, bool) {
			for _, lt := range all {
				if match(lt) {
					return lt, true
				}
			}
			return store.LaunchTemplate{}, false
		}
		for _, id := range ids {
			lt, ok := find(func(lt store.LaunchTemplate) bool { return lt.ID == id })
			if !ok {
				return nil, errorf(templateIDs.notFound, "At least one of the launch templates specified in the request does not exist.")
			}
			lts = append(lts, lt)
		}
		for _, name := range names {
			lt, ok := find(func(lt store.LaunchTemplate) bool { return lt.Name == name })
			if !ok {
				return nil, errorf("InvalidLaunchTemplateName.NotFoundException", "At least one of the launch templates specified in the request does not exist.")
			}
			lts = append(lts, lt)
		}
	}
	lts, e := filterItems(lts, c.in.filters, templateFields(), func(lt store.LaunchTemplate) map[string]string { return lt.Tags })
	if e != nil {
		return nil, e
	}
	page, next, e := paginateWithin(lts, func(lt store.LaunchTemplate) string { return lt.ID }, c.in, 1, 200)
	if e != nil {
		return nil, e
	}
	out := &describeLaunchTemplatesResult{NextToken: next}
	for _, lt := range page {
		out.LaunchTemplates.Items = append(out.LaunchTemplates.Items, h.templateItem(lt))
	}
	return out, nil
}

// templateVersion is a version with its template.
type templateVersion struct {
	lt store.LaunchTemplate
	v  store.LaunchTemplateVersion
}

func versionFields() fields[templateVersion] {
	data := func(key string) func(tv templateVersion) []string {
		return func(tv templateVersion) []string {
			if v, ok := tv.v.Data[key]; ok {
				return []string{v}
			}
			return nil
		}
	}
	return fields[templateVersion]{
		"create-time":          func(tv templateVersion) []string { return []string{tv.v.CreateTime.UTC().Format(time.RFC3339)} },
		"is-default-version":   func(tv templateVersion) []string { return boolString(tv.v.Number == tv.lt.DefaultVersion) },
		"instance-type":        data("InstanceType"),
		"image-id":             data("ImageId"),
		"ebs-optimized":        data("EbsOptimized"),
		"kernel-id":            data("KernelId"),
		"ram-disk-id":          data("RamDiskId"),
		"iam-instance-profile": data("IamInstanceProfile.Arn"),
		"http-endpoint":        data("MetadataOptions.HttpEndpoint"),
		"http-tokens":          data("MetadataOptions.HttpTokens"),
		"http-protocol-ipv4":   data("MetadataOptions.HttpProtocolIpv4"),
	}
}

func (h *Handler) describeLaunchTemplateVersions(c *call) (any, *apiError) {
	wanted := c.in.lists["LaunchTemplateVersion"]
	var items []templateVersion
	if c.in.str("LaunchTemplateId") == "" && c.in.str("LaunchTemplateName") == "" {
		// Every template's $Latest and/or $Default.
		if len(wanted) == 0 || c.in.has("MinVersion") || c.in.has("MaxVersion") {
			return nil, errorf(codeMissingParameter, "The request must contain the parameter launchTemplateName or launchTemplateId")
		}
		all, err := h.cfg.Store.LaunchTemplates(c.ctx)
		if err != nil {
			return nil, h.storeError(c, err)
		}
		for _, w := range wanted {
			if w != "$Latest" && w != "$Default" {
				return nil, errorf(codeInvalidParameterValue, "Without a launch template, versions may only be $Latest and $Default; %s was given.", printable(w))
			}
		}
		for _, lt := range all {
			seen := map[int64]bool{}
			for _, w := range wanted {
				n, _ := versionNumber(lt, w)
				if seen[n] {
					continue
				}
				seen[n] = true
				v, err := h.cfg.Store.LaunchTemplateVersion(c.ctx, lt.ID, n)
				if err != nil {
					return nil, h.storeError(c, err)
				}
				items = append(items, templateVersion{lt, v})
			}
		}
	} else {
		lt, e := h.template(c)
		if e != nil {
			return nil, e
		}
		versions, err := h.cfg.Store.LaunchTemplateVersions(c.ctx, lt.ID)
		if err != nil {
			return nil, h.storeError(c, err)
		}
		byNumber := map[int64]store.LaunchTemplateVersion{}
		for _, v := range versions {
			byNumber[v.Number] = v
		}
		lo, hi := int64(1), lt.LatestVersion
		for name, bound := range map[string]*int64{"MinVersion": &lo, "MaxVersion": &hi} {
			if raw := c.in.str(name); raw != "" {
				n, e := versionNumber(lt, raw)
				if e != nil {
					return nil, e
				}
				*bound = n
			}
		}
		if len(wanted) > 0 {
			seen := map[int64]bool{}
			for _, w := range wanted {
				n, e := versionNumber(lt, w)
				if e != nil {
					return nil, e
				}
				v, ok := byNumber[n]
				if !ok {
					return nil, versionNotFound(lt, n)
				}
				if !seen[n] && n >= lo && n <= hi {
					seen[n] = true
					items = append(items, templateVersion{lt, v})
				}
			}
		} else {
			for _, v := range versions {
				if v.Number >= lo && v.Number <= hi {
					items = append(items, templateVersion{lt, v})
				}
			}
		}
	}
	items, e := filterItems(items, c.in.filters, versionFields(), func(templateVersion) map[string]string { return nil })
	if e != nil {
		return nil, e
	}
	key := func(tv templateVersion) string { return fmt.Sprintf("%s/%010d", tv.lt.ID, tv.v.Number) }
	page, next, e := paginateWithin(items, key, c.in, 1, 200)
	if e != nil {
		return nil, e
	}
	out := &describeVersionsResult{NextToken: next}
	for _, tv := range page {
		out.Versions.Items = append(out.Versions.Items, h.versionItem(tv.lt, tv.v))
	}
	return out, nil
}
