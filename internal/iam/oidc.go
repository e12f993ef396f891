package iam

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// IAM's OpenID Connect providers (the IAM half of IRSA).

const (
	maxClientIDs   = 100
	maxThumbprints = 5
)

type oidcProviderResult struct {
	OpenIDConnectProviderArn string   `xml:"OpenIDConnectProviderArn"`
	Tags                     *tagList `xml:"Tags,omitempty"`
}

type getOIDCProviderResult struct {
	URL          string `xml:"Url"`
	ClientIDList struct {
		Members []string `xml:"member"`
	} `xml:"ClientIDList"`
	ThumbprintList struct {
		Members []string `xml:"member"`
	} `xml:"ThumbprintList"`
	CreateDate string   `xml:"CreateDate"`
	Tags       *tagList `xml:"Tags,omitempty"`
}

type listOIDCProvidersResult struct {
	OpenIDConnectProviderList struct {
		Members []struct {
			Arn string `xml:"Arn"`
		} `xml:"member"`
	} `xml:"OpenIDConnectProviderList"`
}

func oidcArn(account, u string) string {
	return "arn:aws:iam::" + account + ":oidc-provider/" + u
}

func validThumbprint(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// providerURL checks an issuer URL as IAM does and returns it as IAM keeps
// it: without https:// and a trailing slash.
func providerURL(raw string) (string, *apiError) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", newError(400, "InvalidInput", "Invalid Openid Connect Provider URL: "+quoteValue(raw))
	}
	return strings.TrimSuffix(u.Host+u.Path, "/"), nil
}

func readThumbprints(v *validator) []string {
	out := readList(v, "ThumbprintList", "thumbprintList", 40, 40, validThumbprint, "[0-9a-fA-F]{40}")
	if len(out) > maxThumbprints {
		v.errs = append(v.errs, "Value '[...]' at 'thumbprintList' failed to satisfy constraint: Member must have length less than or equal to 5")
	}
	return out
}

func (s *Service) createOpenIDConnectProvider(c *call) (any, *apiError) {
	v := validator{p: c.p}
	raw, _ := v.str("Url", "url", true, 1, 255, nil, "")
	clientIDs := readList(&v, "ClientIDList", "clientIDList", 1, 255, nil, "")
	thumbs := readThumbprints(&v)
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	u, e := providerURL(raw)
	if e != nil {
		return nil, e
	}
	arn := oidcArn(s.accountID, u)
	if e := s.authorize(c, arn, tagKeys(tags)); e != nil {
		return nil, e
	}
	if len(clientIDs) > maxClientIDs {
		return nil, newError(409, "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
	}
	p := &store.IAMOIDCProvider{URL: u, Arn: arn, ClientIDs: dedupe(clientIDs), Thumbprints: dedupe(thumbs),
		CreateDate: s.now().UTC().Truncate(time.Second), Tags: toStoreTags(tags)}
	switch err := s.st.CreateIAMOIDCProvider(c.r.Context(), p); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "Provider with url https://"+u+" already exists.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &oidcProviderResult{OpenIDConnectProviderArn: arn, Tags: tagsShape(p.Tags)}, nil
}

func dedupe(l []string) []string {
	var out []string
	for _, x := range l {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// readProviderArn reads OpenIDConnectProviderArn, authorizes the call on it
// and returns the provider's URL.
func (s *Service) readProviderArn(c *call, v *validator) (string, string, *apiError) {
	arn, _ := v.str("OpenIDConnectProviderArn", "openIDConnectProviderArn", true, 20, 2048, validArnText, patArn)
	if e := v.err(); e != nil {
		return "", "", e
	}
	if e := s.authorize(c, arn, nil); e != nil {
		return "", "", e
	}
	a, ok := parseARN(arn)
	u, isProvider := strings.CutPrefix(a.resource, "oidc-provider/")
	if !ok || a.service != "iam" || !isProvider || u == "" {
		return "", "", newError(400, "InvalidInput", "ARN "+quoteValue(arn)+" is not valid.")
	}
	return arn, u, nil
}

func noSuchProvider(arn string) *apiError {
	return newError(404, "NoSuchEntity", "OpenIDConnect Provider not found for arn "+arn)
}

// changeProvider changes a provider in one transaction.
func (s *Service) changeProvider(c *call, fn func(p *store.IAMOIDCProvider) *apiError) *apiError {
	_, e := s.withProvider(c, true, fn)
	return e
}

// withProvider reads the provider the call names and gives it to fn,
// writing it back if write is set.
func (s *Service) withProvider(c *call, write bool, fn func(p *store.IAMOIDCProvider) *apiError) (*store.IAMOIDCProvider, *apiError) {
	v := validator{p: c.p}
	arn, u, e := s.readProviderArn(c, &v)
	if e != nil {
		return nil, e
	}
	var ae *apiError
	var got *store.IAMOIDCProvider
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae, got = nil, nil
		p, err := tx.OIDCProvider(u)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && p.Arn != arn:
			ae = noSuchProvider(arn)
			return nil
		case err != nil:
			return err
		}
		if ae = fn(p); ae == nil && write {
			tx.PutOIDCProvider(p)
		}
		got = p
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return got, ae
}

func (s *Service) readProvider(c *call) (*store.IAMOIDCProvider, *apiError) {
	return s.withProvider(c, false, func(*store.IAMOIDCProvider) *apiError { return nil })
}

func (s *Service) getOpenIDConnectProvider(c *call) (any, *apiError) {
	p, e := s.readProvider(c)
	if e != nil {
		return nil, e
	}
	res := &getOIDCProviderResult{URL: p.URL, CreateDate: isoTime(p.CreateDate), Tags: tagsShape(p.Tags)}
	res.ClientIDList.Members = p.ClientIDs
	res.ThumbprintList.Members = p.Thumbprints
	return res, nil
}

func (s *Service) listOpenIDConnectProviders(c *call) (any, *apiError) {
	if e := s.authorize(c, "arn:aws:iam::"+s.accountID+":oidc-provider/*", nil); e != nil {
		return nil, e
	}
	all, err := s.st.ListIAMOIDCProviders(c.r.Context())
	if err != nil {
		return nil, s.failure(err)
	}
	res := &listOIDCProvidersResult{}
	for _, p := range all {
		res.OpenIDConnectProviderList.Members = append(res.OpenIDConnectProviderList.Members, struct {
			Arn string `xml:"Arn"`
		}{p.Arn})
	}
	return res, nil
}

func (s *Service) deleteOpenIDConnectProvider(c *call) (any, *apiError) {
	v := validator{p: c.p}
	arn, u, e := s.readProviderArn(c, &v)
	if e != nil {
		return nil, e
	}
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		p, err := tx.OIDCProvider(u)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && p.Arn != arn:
			ae = noSuchProvider(arn)
		case err != nil:
			return err
		default:
			tx.DeleteOIDCProvider(u)
		}
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return nil, ae
}

func (s *Service) addClientIDToOpenIDConnectProvider(c *call) (any, *apiError) {
	v := validator{p: c.p}
	id, _ := v.str("ClientID", "clientID", true, 1, 255, nil, "")
	if e := v.err(); e != nil {
		return nil, e
	}
	return nil, s.changeProvider(c, func(p *store.IAMOIDCProvider) *apiError {
		if slices.Contains(p.ClientIDs, id) {
			return nil
		}
		if len(p.ClientIDs) >= maxClientIDs {
			return newError(409, "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
		}
		p.ClientIDs = append(p.ClientIDs, id)
		return nil
	})
}

func (s *Service) removeClientIDFromOpenIDConnectProvider(c *call) (any, *apiError) {
	v := validator{p: c.p}
	id, _ := v.str("ClientID", "clientID", true, 1, 255, nil, "")
	if e := v.err(); e != nil {
		return nil, e
	}
	return nil, s.changeProvider(c, func(p *store.IAMOIDCProvider) *apiError {
		p.ClientIDs = slices.DeleteFunc(p.ClientIDs, func(x string) bool { return x == id })
		return nil
	})
}

func (s *Service) updateOpenIDConnectProviderThumbprint(c *call) (any, *apiError) {
	v := validator{p: c.p}
	thumbs := readThumbprints(&v)
	if !c.p.has("ThumbprintList") && len(thumbs) == 0 {
		v.fail("thumbprintList", "", true, "not be null")
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	return nil, s.changeProvider(c, func(p *store.IAMOIDCProvider) *apiError {
		p.Thumbprints = dedupe(thumbs)
		return nil
	})
}

func (s *Service) tagOpenIDConnectProvider(c *call) (any, *apiError) {
	v := validator{p: c.p}
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	return nil, s.changeProvider(c, func(p *store.IAMOIDCProvider) *apiError {
		var e *apiError
		p.Tags, e = mergeTags(p.Tags, tags)
		return e
	})
}

func (s *Service) untagOpenIDConnectProvider(c *call) (any, *apiError) {
	v := validator{p: c.p}
	keys := readTagKeys(&v)
	if e := v.err(); e != nil {
		return nil, e
	}
	return nil, s.changeProvider(c, func(p *store.IAMOIDCProvider) *apiError {
		p.Tags = removeTags(p.Tags, keys)
		return nil
	})
}

func (s *Service) listOpenIDConnectProviderTags(c *call) (any, *apiError) {
	v := validator{p: c.p}
	l := readListing(&v, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	p, e := s.readProvider(c)
	if e != nil {
		return nil, e
	}
	return tagsPage(p.Tags, l)
}
