package eks

import "github.com/kplane/kplane/internal/paging"

// nextToken is opaque to clients: the key of the page's last item, so the
// next page resumes after it in order even if it is gone by then.
var nextToken = paging.Token{Prefix: "kp1:"}

func encodeNextToken(last string) string { return nextToken.Encode(last) }

func decodeNextToken(tok string) (string, *Error) {
	if tok == "" {
		return "", nil
	}
	after, ok := nextToken.Decode(tok)
	if !ok {
		return "", Errorf(InvalidParameter, "The nextToken provided is not valid")
	}
	return after, nil
}

// page returns up to limit items, in key order, after the one tok names,
// and the next token ("" after the last page).
func page[T any](items []T, key func(T) string, tok string, limit int) ([]T, string, *Error) {
	after, err := decodeNextToken(tok)
	if err != nil {
		return nil, "", err
	}
	out, resume := paging.Page(items, key, after, limit)
	if resume == "" {
		return out, "", nil
	}
	return out, encodeNextToken(resume), nil
}
