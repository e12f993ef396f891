package ec2

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// Launch templates: CreateLaunchTemplate, CreateLaunchTemplateVersion,
// DescribeLaunchTemplates, DescribeLaunchTemplateVersions,
// ModifyLaunchTemplate, DeleteLaunchTemplate, DeleteLaunchTemplateVersions.

var (
	templateIDs      = idKind{"lt-", "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateId.Malformed", "launch template ID"}
	templateNameRE   = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
	maxVersionDescLn = 255
)

const codeTemplateNameExists = "InvalidLaunchTemplateName.AlreadyExistsException"

func templateNotFoundByID(id string) *apiError {
	return errorf(templateIDs.notFound, "The specified launch template, with template ID %s, does not exist.", printable(id))
}

func templateNotFoundByName(name string) *apiError {
	return errorf("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", printable(name))
}

func checkTemplateName(name string) *apiError {
	if !templateNameRE.MatchString(name) {
		return errorf("InvalidLaunchTemplateName.MalformedException",
			"A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
	}
	return nil
}

// template finds the template a call names by LaunchTemplateId or
// LaunchTemplateName (exactly one).
func (h *Handler) template(c *call) (store.LaunchTemplate, *apiError) {
	id, name := c.in.str("LaunchTemplateId"), c.in.str("LaunchTemplateName")
	switch {
	case id != "" && name != "":
		return store.LaunchTemplate{}, errorf(codeInvalidParameterCombo, "Both a launch template ID and a launch template name were specified. Specify one or the other.")
	case id == "" && name == "":
		return store.LaunchTemplate{}, errorf(codeMissingParameter, "The request must contain the parameter launchTemplateName or launchTemplateId")
	case name != "":
		if e := checkTemplateName(name); e != nil {
			return store.LaunchTemplate{}, e
		}
		found, err := h.cfg.Store.LaunchTemplateID(c.ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return store.LaunchTemplate{}, templateNotFoundByName(name)
		} else if err != nil {
			return store.LaunchTemplate{}, h.storeError(c, err)
		}
		id = found
	}
	if e := templateIDs.check(id); e != nil {
		return store.LaunchTemplate{}, e
	}
	lt, _, err := h.cfg.Store.GetLaunchTemplate(c.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return lt, templateNotFoundByID(id)
	} else if err != nil {
		return lt, h.storeError(c, err)
	}
	return lt, nil
}

// versionNumber reads a version: a number, $Latest or $Default.
func versionNumber(lt store.LaunchTemplate, v string) (int64, *apiError) {
	switch v {
	case "$Latest":
		return lt.LatestVersion, nil
	case "$Default":
		return lt.DefaultVersion, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, errorf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for the launch template with ID %s.", printable(v), lt.ID)
	}
	return n, nil
}

func versionNotFound(lt store.LaunchTemplate, n int64) *apiError {
	return errorf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %d for the launch template with ID %s.", n, lt.ID)
}

func (h *Handler) callerArn(c *call) string {
	if c.cred != nil {
		return c.cred.Arn
	}
	return "arn:aws:iam::" + h.cfg.AccountID + ":root"
}

// versionInput is a call's VersionDescription and LaunchTemplateData, checked.
func versionInput(c *call) (string, map[string]string, *apiError) {
	if c.in.trees["LaunchTemplateData"] == nil {
		return "", nil, missing("LaunchTemplateData")
	}
	desc := c.in.str("VersionDescription")
	if len(desc) > maxVersionDescLn {
		return "", nil, invalidValue("VersionDescription", printable(desc), "Up to 255 characters.")
	}
	data, e := checkLaunchTemplateData(c.in.trees["LaunchTemplateData"])
	return desc, data, e
}

func (h *Handler) createLaunchTemplate(c *call) (any, *apiError) {
	name := c.in.str("LaunchTemplateName")
	if name == "" {
		return nil, missing("LaunchTemplateName")
	}
	if e := checkTemplateName(name); e != nil {
		return nil, e
	}
	desc, data, e := versionInput(c)
	if e != nil {
		return nil, e
	}
	tagsOf, e := tagsFromSpecs(c.in.tagSpecs, "launch-template")
	if e != nil {
		return nil, e
	}
	now := time.Now().UTC().Truncate(time.Second)
	lt := store.LaunchTemplate{ID: store.NewResourceID("lt"), Name: name, CreateTime: now, CreatedBy: h.callerArn(c), Tags: tagsOf}
	v := store.LaunchTemplateVersion{Description: desc, CreateTime: now, CreatedBy: lt.CreatedBy, Data: data}
	switch err := h.cfg.Store.CreateLaunchTemplate(c.ctx, lt, v); {
	case errors.Is(err, store.ErrExists):
		return nil, errorf(codeTemplateNameExists, "Launch template name already in use.")
	case err != nil:
		return nil, h.storeError(c, err)
	}
	lt.DefaultVersion, lt.LatestVersion = 1, 1
	return &launchTemplateResult{LaunchTemplate: h.templateItem(lt)}, nil
}

func (h *Handler) createLaunchTemplateVersion(c *call) (any, *apiError) {
	lt, e := h.template(c)
	if e != nil {
		return nil, e
	}
	desc, data, e := versionInput(c)
	if e != nil {
		return nil, e
	}
	var failed *apiError
	lt, v, err := h.cfg.Store.AddLaunchTemplateVersion(c.ctx, lt.ID, func(lt store.LaunchTemplate) (store.LaunchTemplateVersion, error) {
		merged := data
		if src := c.in.str("SourceVersion"); src != "" {
			n, e := versionNumber(lt, src)
			if e != nil {
				failed = e
				return store.LaunchTemplateVersion{}, errors.New(e.msg)
			}
			base, err := h.cfg.Store.LaunchTemplateVersion(c.ctx, lt.ID, n)
			if errors.Is(err, store.ErrNotFound) {
				failed = versionNotFound(lt, n)
				return store.LaunchTemplateVersion{}, err
			} else if err != nil {
				return store.LaunchTemplateVersion{}, err
			}
			merged = overlay(base.Data, data)
		}
		now := time.Now().UTC().Truncate(time.Second)
		return store.LaunchTemplateVersion{Description: desc, CreateTime: now, CreatedBy: h.callerArn(c), Data: merged}, nil
	})
	switch {
	case failed != nil:
		return nil, failed
	case errors.Is(err, store.ErrNotFound):
		return nil, templateNotFoundByID(lt.ID)
	case errors.Is(err, store.ErrTooManyVersions):
		return nil, errorf("VersionLimitExceeded", "The launch template has the maximum number of versions (%d).", store.MaxLaunchTemplateVersions)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return &launchTemplateVersionResult{Version: h.versionItem(lt, v)}, nil
}

// overlay is base with each top-level member that data sets replaced by
// data's: a new version inherits what it does not set from its source.
func overlay(base, data map[string]string) map[string]string {
	top := func(k string) string {
		for i := 0; i < len(k); i++ {
			if k[i] == '.' {
				return k[:i]
			}
		}
		return k
	}
	set := map[string]bool{}
	for k := range data {
		set[top(k)] = true
	}
	out := map[string]string{}
	for k, v := range base {
		if !set[top(k)] {
			out[k] = v
		}
	}
	for k, v := range data {
		out[k] = v
	}
	return out
}

func (h *Handler) modifyLaunchTemplate(c *call) (any, *apiError) {
	lt, e := h.template(c)
	if e != nil {
		return nil, e
	}
	if v := c.in.str("SetDefaultVersion"); v != "" {
		n, e := versionNumber(lt, v)
		if e != nil {
			return nil, e
		}
		updated, err := h.cfg.Store.SetLaunchTemplateDefault(c.ctx, lt.ID, n)
		switch {
		case errors.Is(err, store.ErrNoVersion):
			return nil, versionNotFound(lt, n)
		case errors.Is(err, store.ErrNotFound):
			return nil, templateNotFoundByID(lt.ID)
		case err != nil:
			return nil, h.storeError(c, err)
		}
		lt = updated
	}
	return &launchTemplateResult{LaunchTemplate: h.templateItem(lt)}, nil
}

func (h *Handler) deleteLaunchTemplate(c *call) (any, *apiError) {
	lt, e := h.template(c)
	if e != nil {
		return nil, e
	}
	lt, err := h.cfg.Store.DeleteLaunchTemplate(c.ctx, lt.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, templateNotFoundByID(lt.ID)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return &launchTemplateResult{LaunchTemplate: h.templateItem(lt)}, nil
}

// maxVersionsPerDelete is EC2's bound on DeleteLaunchTemplateVersions.
const maxVersionsPerDelete = 200

func (h *Handler) deleteLaunchTemplateVersions(c *call) (any, *apiError) {
	lt, e := h.template(c)
	if e != nil {
		return nil, e
	}
	versions := c.in.lists["LaunchTemplateVersion"]
	if len(versions) == 0 {
		return nil, missing("LaunchTemplateVersion")
	}
	if len(versions) > maxVersionsPerDelete {
		return nil, errorf(codeInvalidParameterValue, "You can specify up to %d launch template versions per request.", maxVersionsPerDelete)
	}
	out := &deleteVersionsResult{}
	for _, raw := range versions {
		n, err := strconv.ParseInt(raw, 10, 64)
		failure := func(code, msg string) {
			out.Failed.Items = append(out.Failed.Items, deleteVersionFailure{
				LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: n,
				ResponseError: responseError{Code: code, Message: msg},
			})
		}
		if err != nil || n < 1 {
			failure("launchTemplateVersionDoesNotExist", fmt.Sprintf("The launch template version %s does not exist.", printable(raw)))
			continue
		}
		switch err := h.cfg.Store.DeleteLaunchTemplateVersion(c.ctx, lt.ID, n); {
		case errors.Is(err, store.ErrNoVersion):
			failure("launchTemplateVersionDoesNotExist", fmt.Sprintf("The launch template version %d does not exist.", n))
		case errors.Is(err, store.ErrInUse):
			failure("unexpectedError", "Cannot delete the default version of a launch template. Set another version as the default, or delete the launch template.")
		case errors.Is(err, store.ErrNotFound):
			return nil, templateNotFoundByID(lt.ID)
		case err != nil:
			return nil, h.storeError(c, err)
		default:
			out.Deleted.Items = append(out.Deleted.Items, deletedVersion{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: n})
		}
	}
	return out, nil
}
