package eks

import (
	"encoding/base64"
	"strings"
)

// nextToken is opaque to clients: the last item of the page, encoded, so a
// page boundary survives items coming and going between calls.
const nextTokenPrefix = "kp1:"

func encodeNextToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(nextTokenPrefix + last))
}

func decodeNextToken(tok string) (string, *Error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), nextTokenPrefix) {
		return "", Errorf(InvalidParameter, "The nextToken provided is not valid")
	}
	return strings.TrimPrefix(string(b), nextTokenPrefix), nil
}

// page returns up to limit items after the one named by tok, and the next token.
func page[T any](items []T, key func(T) string, tok string, limit int) ([]T, string, *Error) {
	after, err := decodeNextToken(tok)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if after != "" {
		start = len(items)
		for i, it := range items {
			if key(it) == after {
				start = i + 1
				break
			}
		}
	}
	end := min(start+limit, len(items))
	out := items[start:end]
	next := ""
	if end < len(items) && len(out) > 0 {
		next = encodeNextToken(key(out[len(out)-1]))
	}
	return out, next, nil
}
