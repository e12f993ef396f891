package auth

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// canonicalBuffer holds the scratch space for one signature check. Buffers are pooled so
// a verified request costs no allocations for the canonical request itself.
type canonicalBuffer struct {
	b     []byte       // the canonical request, then the string to sign
	q     []byte       // encoded query keys and values, referenced by pairs
	pairs []queryRange // one per query parameter
}

// queryRange locates one encoded "key" and "value" inside canonicalBuffer.q.
type queryRange struct{ k0, k1, v1 int } // key = q[k0:k1], value = q[k1:v1]

var canonicalBuffers = sync.Pool{New: func() any {
	return &canonicalBuffer{b: make([]byte, 0, 1024), q: make([]byte, 0, 256)}
}}

// Pooled buffers that grew past this are dropped so one huge request does not pin memory.
const maxPooledBuffer = 64 << 10

func getCanonicalBuffer() *canonicalBuffer { return canonicalBuffers.Get().(*canonicalBuffer) }

func putCanonicalBuffer(cb *canonicalBuffer) {
	if cap(cb.b) > maxPooledBuffer || cap(cb.q) > maxPooledBuffer || cap(cb.pairs) > maxPooledBuffer/8 {
		return
	}
	cb.b, cb.q, cb.pairs = cb.b[:0], cb.q[:0], cb.pairs[:0]
	canonicalBuffers.Put(cb)
}

// appendCanonicalRequest writes the SigV4 canonical request:
//
//	METHOD \n URI \n QUERY \n name:value\n... \n SIGNEDHEADERS \n PAYLOADHASH
//
// uri is the request path as sent on the wire; it is URI-encoded once more here, as the
// eks and sts signers of both the Go SDK and botocore do.
func (cb *canonicalBuffer) appendCanonicalRequest(r *http.Request, uri string, presigned bool, signedHeaders string, payloadHash []byte) {
	method := r.Method
	if method == "" {
		method = http.MethodGet // net/http's meaning of an empty Method
	}
	b := append(cb.b[:0], method...)
	b = append(b, '\n')
	b = appendEscapedPath(b, uri)
	b = append(b, '\n')
	cb.b = b
	if r.URL != nil {
		cb.appendCanonicalQuery(r.URL.RawQuery, presigned)
	}
	b = append(cb.b, '\n')
	b = appendCanonicalHeaders(b, r, signedHeaders)
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	cb.b = append(b, payloadHash...)
}

// appendCanonicalQuery appends every query parameter as encode(key)=encode(value), sorted
// by encoded key, then encoded value (AWS sorts after encoding). A presigned request's
// own X-Amz-Signature is left out, since it cannot sign itself.
func (cb *canonicalBuffer) appendCanonicalQuery(rawQuery string, presigned bool) {
	q, pairs := cb.q[:0], cb.pairs[:0]
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k0 := len(q)
		q = appendQueryComponent(q, k)
		k1 := len(q)
		if presigned && string(q[k0:k1]) == paramSignature {
			q = q[:k0]
			continue
		}
		q = appendQueryComponent(q, v)
		pairs = append(pairs, queryRange{k0, k1, len(q)})
	}
	slices.SortFunc(pairs, func(a, b queryRange) int {
		if c := bytes.Compare(q[a.k0:a.k1], q[b.k0:b.k1]); c != 0 {
			return c
		}
		return bytes.Compare(q[a.k1:a.v1], q[b.k1:b.v1])
	})
	b := cb.b
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, q[p.k0:p.k1]...)
		b = append(b, '=')
		b = append(b, q[p.k1:p.v1]...)
	}
	cb.b, cb.q, cb.pairs = b, q, pairs
}

// appendCanonicalHeaders appends "name:value\n" for each name in the client's SignedHeaders
// list, in the client's order: the verifier must sign what the client signed.
func appendCanonicalHeaders(b []byte, r *http.Request, signedHeaders string) []byte {
	for rest := signedHeaders; ; {
		var name string
		var more bool
		name, rest, more = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		b = appendHeaderValues(b, r, name)
		b = append(b, '\n')
		if !more {
			return b
		}
	}
}

func appendHeaderValues(b []byte, r *http.Request, name string) []byte {
	if strings.EqualFold(name, "host") {
		// net/http moves the Host header out of r.Header into r.Host.
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return appendTrimmedValue(b, host)
	}
	values := headerValues(r.Header, name)
	if len(values) == 0 && strings.EqualFold(name, "content-length") && r.ContentLength > 0 {
		// The Go SDK signs r.ContentLength; a request built in-process may not carry the header.
		return strconv.AppendInt(b, r.ContentLength, 10)
	}
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTrimmedValue(b, v)
	}
	return b
}

// headerValues looks a signed (lower-case) header name up in h without allocating: the
// canonical MIME form is built on the stack, and Go does not allocate for m[string(bytes)].
func headerValues(h http.Header, name string) []string {
	if h == nil || name == "" {
		return nil
	}
	var buf [128]byte
	if len(name) <= len(buf) {
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !isTokenChar(c) {
				// textproto leaves such keys as they are; so do we.
				return h[name]
			}
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
			upper = c == '-'
		}
		if v, ok := h[string(buf[:len(name)])]; ok {
			return v
		}
	} else if v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v
	}
	return h[name] // a map filled by hand may hold the name as the client spelled it
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// appendTrimmedValue trims the value and folds inner runs of spaces into one, the
// "Trimall" of the SigV4 spec. Tabs inside a value are kept, as the Go SDK keeps them.
func appendTrimmedValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t\r\n\v\f")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// unreserved reports RFC 3986 unreserved characters, the only ones SigV4 leaves unescaped.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

const upperHex = "0123456789ABCDEF"

func appendEscaped(b []byte, c byte) []byte {
	if unreserved(c) {
		return append(b, c)
	}
	return append(b, '%', upperHex[c>>4], upperHex[c&15])
}

// appendEscapedPath URI-encodes an already-escaped path again, keeping '/':
// "/clusters/my%20cluster" becomes "/clusters/my%2520cluster".
func appendEscapedPath(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			b = append(b, '/')
		} else {
			b = appendEscaped(b, path[i])
		}
	}
	return b
}

// appendQueryComponent decodes one raw query key or value and appends its SigV4 encoding.
// Decoding follows queryUnescape, so both always agree on what a parameter says.
func appendQueryComponent(b []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		case c == '+':
			c = ' '
		}
		b = appendEscaped(b, c)
	}
	return b
}

// queryUnescape decodes a query component like url.QueryUnescape ('+' is a space), but
// keeps a malformed "%" escape literally instead of failing, so no parameter is dropped.
func queryUnescape(raw string) string {
	if strings.IndexByte(raw, '%') < 0 && strings.IndexByte(raw, '+') < 0 {
		return raw
	}
	if s, err := url.QueryUnescape(raw); err == nil {
		return s
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		case c == '+':
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// requestPath is the escaped path the client sent, as both SDK signers read it.
func requestPath(u *url.URL) string {
	if u == nil {
		return "/"
	}
	var p string
	if u.Opaque != "" {
		// "//host/path?query" form, as the Go SDK documents for pre-escaped paths.
		p, _, _ = strings.Cut(u.Opaque, "?")
		if strings.HasPrefix(p, "//") {
			p = p[2:]
			if i := strings.IndexByte(p, '/'); i >= 0 {
				p = p[i:]
			} else {
				p = ""
			}
		} else if i := strings.IndexByte(p, '/'); i >= 0 {
			p = p[i:]
		} else {
			p = ""
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		return "/"
	}
	return p
}

// normalizedPath is botocore's form of a path: "." and ".." segments resolved and empty
// segments dropped (botocore.utils.remove_dot_segments). The Go SDK signs the path as is,
// so this form is only tried when the plain one does not match.
func normalizedPath(p string) (string, bool) {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") && !strings.HasPrefix(p, ".") {
		return p, false
	}
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if strings.HasPrefix(p, "/") {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		b.WriteByte('/')
	}
	n := b.String()
	if n == "" {
		n = "/"
	}
	return n, n != p
}

// listsHeader reports whether the SignedHeaders list names h (case-insensitively, as AWS does).
func listsHeader(signedHeaders, h string) bool {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}
