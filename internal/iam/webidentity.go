package iam

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	iampolicy "github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

// IssuerKeys gives the public key that signs the tokens of an OIDC issuer
// (a kplane cluster's identity.oidc.issuer), or false for an issuer kplane
// does not serve. kplane reaches no identity provider outside itself.
type IssuerKeys func(issuer string) (crypto.PublicKey, bool)

// SetIssuerKeys tells STS where the keys of kplane's clusters' issuers are;
// call it before serving.
func (s *Service) SetIssuerKeys(f IssuerKeys) { s.issuerKeys = f }

// webClaims are the claims AssumeRoleWithWebIdentity reads.
type webClaims struct {
	jwt.RegisteredClaims
}

func invalidToken(msg string) *apiError { return newError(400, "InvalidIdentityToken", msg) }

// assumeRoleWithWebIdentity is STS AssumeRoleWithWebIdentity, the core of
// IRSA: an unsigned call carrying a service account's token. The token's
// issuer must be a registered OIDC provider whose client ids hold one of its
// audiences, its RS256 signature the issuer's key, and it must not have
// expired; then the role's trust policy decides, for the provider as a
// Federated principal, with the conditions ISSUER:sub, ISSUER:aud and
// sts:RoleSessionName.
func (s *Service) assumeRoleWithWebIdentity(c *call) (any, *apiError) {
	v := validator{p: c.p}
	roleArnIn, _ := v.str("RoleArn", "roleArn", true, 20, 2048, validArnText, patArn)
	sessionName, _ := v.str("RoleSessionName", "roleSessionName", true, 2, 64, validSessionName, patSessionName)
	token, _ := v.str("WebIdentityToken", "webIdentityToken", true, 4, 20000, nil, "")
	v.str("ProviderId", "providerId", false, 4, 2048, nil, "")
	secs, hasSecs := v.integer("DurationSeconds", "durationSeconds", 900, 43200)
	sessionDoc, hasSessionDoc := v.str("Policy", "policy", false, 1, 2048, validPolicyText, patPolicy)
	policyArns := readPolicyArns(&v)
	if e := v.err(); e != nil {
		return nil, e
	}
	if a, ok := parseARN(roleArnIn); !ok || a.service != "iam" || !strings.HasPrefix(a.resource, "role/") {
		return nil, validationError(quoteValue(roleArnIn) + " is invalid")
	}
	ctx := c.r.Context()
	claims, provider, e := s.verifyWebIdentity(c, token)
	if e != nil {
		return nil, e
	}
	denied := newError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	path, name, ok := splitRoleArn(roleArnIn, s.accountID)
	if !ok {
		return nil, denied
	}
	role := s.index.Role(name)
	if role == nil || role.Path != path {
		return nil, denied
	}
	trust, msg := parseTrustPolicy(role.AssumeRolePolicyDocument)
	if msg != "" {
		return nil, denied
	}
	issuer := strings.ToLower(provider.URL)
	keys := map[string][]string{
		issuer + ":sub":         {claims.Subject},
		issuer + ":aud":         claims.Audience,
		"sts:rolesessionname":   {sessionName},
		"aws:federatedprovider": {provider.Arn},
		"aws:currenttime":       {s.now().UTC().Format(time.RFC3339)},
	}
	if c.r != nil {
		keys["aws:securetransport"] = []string{fmt.Sprint(c.r.TLS != nil)}
	}
	req := &iampolicy.Request{Action: "sts:AssumeRoleWithWebIdentity", Resource: role.Arn, Context: keys}
	if d, _ := trust.EvaluateTrust(&iampolicy.Caller{Federated: provider.Arn}, req); d != iampolicy.Allow {
		return nil, denied
	}
	sessionPolicies, e := s.sessionPolicies(sessionDoc, hasSessionDoc, policyArns)
	if e != nil {
		return nil, e
	}
	duration, e := sessionDuration(role, secs, hasSecs)
	if e != nil {
		return nil, e
	}
	sess := &store.IAMSession{
		RoleArn: role.Arn, RoleID: role.RoleID, RoleName: role.RoleName,
		SessionName: sessionName, SourceArn: provider.Arn, Expiration: s.now().UTC().Truncate(time.Second).Add(duration),
		SessionPolicies: sessionPolicies, HasSessionPolicy: hasSessionDoc || len(policyArns) > 0,
	}
	cred, e := s.startSession(ctx, sess, duration)
	if e != nil {
		return nil, e
	}
	res := &assumeRoleWithWebIdentityResult{SubjectFromWebIdentityToken: claims.Subject, Provider: provider.Arn}
	res.set(cred)
	for _, aud := range claims.Audience {
		if contains(provider.ClientIDs, aud) {
			res.Audience = aud
			break
		}
	}
	return res, nil
}

// verifyWebIdentity checks a token as STS does, each refusal with its reason:
// a JWT, from a registered provider, for one of its client ids, signed by the
// issuer's key, not expired.
func (s *Service) verifyWebIdentity(c *call, token string) (*webClaims, *store.IAMOIDCProvider, *apiError) {
	var claims webClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return nil, nil, invalidToken("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
	}
	providerURL, ok := strings.CutPrefix(claims.Issuer, "https://")
	if !ok {
		// A cluster made before kplane's endpoint spoke TLS keeps its http
		// issuer; its provider is registered as https://HOST/PATH.
		providerURL, _ = strings.CutPrefix(claims.Issuer, "http://")
	}
	providerURL = strings.TrimSuffix(providerURL, "/")
	all, err := s.st.ListIAMOIDCProviders(c.r.Context())
	if err != nil {
		return nil, nil, s.failure(err)
	}
	var provider *store.IAMOIDCProvider
	for _, p := range all {
		if strings.EqualFold(p.URL, providerURL) {
			provider = p
		}
	}
	if provider == nil || providerURL == "" {
		return nil, nil, invalidToken("No OpenIDConnect provider found in your account for " + claims.Issuer)
	}
	audOK := false
	for _, aud := range claims.Audience {
		audOK = audOK || contains(provider.ClientIDs, aud)
	}
	if !audOK {
		return nil, nil, invalidToken("Incorrect token audience")
	}
	var key crypto.PublicKey
	if s.issuerKeys != nil {
		key, ok = s.issuerKeys(claims.Issuer)
	}
	if key == nil || !ok {
		return nil, nil, invalidToken("Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements")
	}
	var verified webClaims
	_, err = jwt.ParseWithClaims(token, &verified, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now), jwt.WithIssuer(claims.Issuer))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, nil, newError(400, "ExpiredTokenException", fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time %d",
			s.now().Unix(), verified.ExpiresAt.Unix()))
	case err != nil:
		return nil, nil, invalidToken("The token could not be verified: " + jwtReason(err))
	}
	if verified.Subject == "" {
		return nil, nil, invalidToken("The token has no subject")
	}
	return &verified, provider, nil
}

// jwtReason names why a token failed, without echoing it.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "its signature is not the issuer's"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "it is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "it has no expiry"
	}
	return "it is malformed"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
