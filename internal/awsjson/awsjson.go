// Package awsjson serves AWS services on the JSON 1.1 protocol (KMS,
// CloudWatch Logs): POST / with X-Amz-Target: PREFIX.Operation, a JSON body,
// SigV4-signed for the service's signing name; results as JSON, errors as
// {"__type": ..., "message": ...} with the service's status.
package awsjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/policy"
)

// ContentType is the media type of JSON 1.1 requests and answers.
const ContentType = "application/x-amz-json-1.1"

// MaxBody bounds a request body: KMS plaintexts are at most 4 KiB and a Logs
// PutLogEvents batch 1 MiB, each a third larger in base64 or JSON.
const MaxBody = 2 << 20

// bodyReadTimeout stops a client that sends its body slowly from holding a handler.
const bodyReadTimeout = 30 * time.Second

// Error is a modeled error of the service.
type Error struct {
	Type    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Errorf makes a 400 error of type typ.
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// Op is one operation: it decodes its input from body and returns the output
// (encoded as JSON) or an error.
type Op func(c *Call) (any, *Error)

// Call is one authenticated request.
type Call struct {
	R    *http.Request
	Body []byte
	Cred *auth.Credential
	Op   string
}

// Decode decodes the body into v. An empty body is an empty object.
// Malformed JSON or a value of the wrong type is a SerializationException,
// as AWS answers it.
func (c *Call) Decode(v any) *Error {
	body := bytes.TrimSpace(c.Body)
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Errorf("SerializationException", "Unexpected value type for field %s", te.Field)
		}
		return Errorf("SerializationException", "Could not parse the request body as JSON")
	}
	return nil
}

// Service is one JSON 1.1 service.
type Service struct {
	SigningName  string // "kms", "logs"
	TargetPrefix string // "TrentService", "Logs_20140328"
	Ops          map[string]Op
	Verifier     *auth.Verifier
	RequestID    func(*http.Request) string
	// InternalError is the service's type for failures on kplane's side.
	InternalError string
	// Authorizer decides every call with IAM's policies (action
	// SIGNINGNAME:Operation); nil allows all.
	Authorizer policy.Authorizer
	// Resource names a call's resource ARN and condition keys for the
	// Authorizer; nil (or "") is "*".
	Resource func(c *Call) (string, map[string][]string)
}

// Handles reports whether r is a call to s (by its X-Amz-Target's prefix).
func (s *Service) Handles(r *http.Request) bool {
	p, _, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	return ok && p == s.TargetPrefix
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := ""
	if s.RequestID != nil {
		id = s.RequestID(r)
	}
	if id == "" {
		id = uuid.NewString()
	}
	w.Header().Set("x-amzn-RequestId", id)
	body, e := readBody(w, r)
	if e != nil {
		WriteError(w, e)
		return
	}
	// Authenticate before looking at the operation, as AWS does.
	cred, rej := s.Verifier.Verify(r, body, s.SigningName)
	if rej != nil {
		WriteError(w, &Error{Type: rej.Code, Status: rej.Status, Message: rej.Message})
		return
	}
	_, name, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	op := s.Ops[name]
	if r.Method != http.MethodPost || op == nil {
		WriteError(w, Errorf("UnknownOperationException", "Operation %q is not supported by this service", name))
		return
	}
	call := &Call{R: r, Body: body, Cred: cred, Op: name}
	if s.Authorizer != nil {
		resource, keys := "*", map[string][]string(nil)
		if s.Resource != nil {
			if res, k := s.Resource(call); res != "" {
				resource, keys = res, k
			}
		}
		if ref := s.Authorizer.Authorize(r, cred, &policy.Request{Action: s.SigningName + ":" + name, Resource: resource, Context: keys}); ref != nil {
			WriteError(w, &Error{Type: "AccessDeniedException", Status: http.StatusBadRequest, Message: ref.Message})
			return
		}
	}
	out, e := op(call)
	if e != nil {
		if e.Type == "" {
			e.Type = s.InternalError
		}
		WriteError(w, e)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		WriteError(w, &Error{Type: s.InternalError, Status: http.StatusInternalServerError, Message: "Internal failure"})
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	tooLarge := &Error{Type: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("Request body is larger than %d bytes", MaxBody)}
	if r.ContentLength > MaxBody {
		return nil, tooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, Errorf("SerializationException", "Could not read the request body")
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

// WriteError writes e as the JSON 1.1 protocol does.
func WriteError(w http.ResponseWriter, e *Error) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	b, _ := json.Marshal(map[string]string{"__type": e.Type, "message": e.Message})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("x-amzn-ErrorType", e.Type)
	w.WriteHeader(status)
	w.Write(b)
}

// Validation collects constraint failures in AWS's words: "1 validation error
// detected: Value 'x' at 'keyId' failed to satisfy constraint: ...".
type Validation struct{ msgs []string }

// Fail records one failure of the member at path with value v.
func (v *Validation) Fail(path string, value any, constraint string) {
	var shown string
	switch x := value.(type) {
	case nil:
		shown = "null"
	case string:
		shown = "'" + x + "'"
	default:
		shown = fmt.Sprintf("'%v'", x)
	}
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", shown, path, constraint))
}

// Required fails a missing member.
func (v *Validation) Required(path string, present bool) {
	if !present {
		v.msgs = append(v.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", path))
	}
}

// Length fails a string outside [min, max] (max 0: unbounded).
func (v *Validation) Length(path, s string, min, max int) {
	n := len([]rune(s))
	if n < min {
		v.Fail(path, s, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	} else if max > 0 && n > max {
		v.Fail(path, s, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

// Range fails a number outside [min, max].
func (v *Validation) Range(path string, n *int, min, max int) {
	if n == nil {
		return
	}
	if *n < min {
		v.Fail(path, *n, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	} else if *n > max {
		v.Fail(path, *n, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

// Err is the ValidationException for what failed, or nil.
func (v *Validation) Err() *Error {
	if len(v.msgs) == 0 {
		return nil
	}
	noun := "error"
	if len(v.msgs) > 1 {
		noun = "errors"
	}
	return Errorf("ValidationException", "%d validation %s detected: %s", len(v.msgs), noun, strings.Join(v.msgs, "; "))
}

// Epoch is a timestamp as JSON 1.1 writes it: seconds since 1970, fractional.
type Epoch time.Time

func (t Epoch) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Time(t).UnixMilli())/1000)), nil
}
