package server

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"

	"github.com/kplane/kplane/internal/store"
)

// OIDCPrefix is where kplane serves each cluster's service-account issuer
// (identity.oidc.issuer = URL + OIDCPrefix + "/id/" + ISSUER_ID), so tokens of
// the cluster's service accounts verify against it, as on EKS.
const OIDCPrefix = "/oidc"

// oidcHandler answers /oidc/id/ID/.well-known/openid-configuration and
// /oidc/id/ID/keys, without authentication, like EKS's public issuer. The
// issuer is https://HOST:PORT/oidc/id/ID (kplane's CA); a cluster made before
// the endpoint spoke TLS keeps its http:// issuer, also answered here.
type oidcHandler struct {
	store *store.Store
	key   func(*store.ClusterRecord) (crypto.PublicKey, error)
}

func (h *oidcHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, OIDCPrefix+"/id/")
	id, doc, ok := strings.Cut(rest, "/")
	if !ok || id == "" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	rec := h.clusterByIssuerID(id)
	if rec == nil {
		http.NotFound(w, r)
		return
	}
	issuer := rec.Cluster.Identity.OIDC.Issuer
	switch doc {
	case ".well-known/openid-configuration":
		writeJSON(w, map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              issuer + "/keys",
			"authorization_endpoint":                "urn:kubernetes:programmatic_authorization",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"claims_supported":                      []string{"sub", "iss"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case "keys":
		if h.key == nil {
			http.NotFound(w, r)
			return
		}
		pub, err := h.key(rec)
		if err != nil {
			http.Error(w, "the cluster's signing key is not there yet", http.StatusServiceUnavailable)
			return
		}
		jwk, err := rsaJWK(pub)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"keys": []any{jwk}})
	default:
		http.NotFound(w, r)
	}
}

func (h *oidcHandler) clusterByIssuerID(id string) *store.ClusterRecord {
	for _, rec := range h.store.Clusters() {
		if i := rec.Cluster.Identity; i != nil && i.OIDC != nil && strings.HasSuffix(i.OIDC.Issuer, OIDCPrefix+"/id/"+id) {
			return rec
		}
	}
	return nil
}

func (h *oidcHandler) cluster(issuer string) *store.ClusterRecord {
	for _, rec := range h.store.Clusters() {
		if id := rec.Cluster.Identity; id != nil && id.OIDC != nil && id.OIDC.Issuer == issuer {
			return rec
		}
	}
	return nil
}

// issuerKey is the public key that signs the service-account tokens of
// issuer, one of kplane's clusters' (STS AssumeRoleWithWebIdentity checks
// tokens with it, as AWS does with the issuer's JWKS).
func (h *oidcHandler) issuerKey(issuer string) (crypto.PublicKey, bool) {
	if h.key == nil {
		return nil, false
	}
	rec := h.cluster(strings.TrimSuffix(issuer, "/"))
	if rec == nil {
		return nil, false
	}
	k, err := h.key(rec)
	return k, err == nil
}

// rsaJWK is pub as a JWK, with the key id kube-apiserver puts in the tokens
// it signs (base64url of the SHA-256 of the PKIX DER).
func rsaJWK(pub crypto.PublicKey) (map[string]string, error) {
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errUnsupportedKey
	}
	der, err := x509.MarshalPKIXPublicKey(rk)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return map[string]string{
		"kty": "RSA", "alg": "RS256", "use": "sig",
		"kid": base64.RawURLEncoding.EncodeToString(sum[:]),
		"n":   base64.RawURLEncoding.EncodeToString(rk.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(rk.E)).Bytes()),
	}, nil
}

type keyError string

func (e keyError) Error() string { return string(e) }

const errUnsupportedKey = keyError("service-account key is not RSA")

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
