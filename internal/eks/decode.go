package eks

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// Request bodies: restJson1 JSON decoded into the request shapes, with the
// modeled error for a body EKS could not parse.

// decodeBody decodes a JSON request body into v. Malformed JSON or a member of the wrong JSON type
// gets a modeled 400 (choose BadRequestException with AWS-like text "...could not be parsed...");
// unknown members are accepted (clients newer than the model send them). Empty body → treat as {}.
//
// A JSON null body is treated as {} too. encoding/json matches member names
// case-insensitively, so "Name" fills name; restJson1 clients never send that.
func decodeBody(body []byte, v any) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &syntax):
		return Errorf(BadRequest, "The request body could not be parsed as JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return Errorf(BadRequest, "The request body could not be parsed: expected a JSON object, got %s", jsonValueKind(typ.Value))
		}
		return Errorf(BadRequest, "The request body could not be parsed: member '%s' must be %s, got %s", typ.Field, jsonKindOf(typ.Type), jsonValueKind(typ.Value))
	case errors.As(err, &invalid):
		// A programming error in the caller, not the client's.
		return Errorf(ServerError, "internal error decoding the request body")
	}
	return Errorf(BadRequest, "The request body could not be parsed: %s", err.Error())
}

// jsonKindOf describes the JSON a Go type expects.
func jsonKindOf(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// jsonValueKind turns UnmarshalTypeError.Value ("string", "number 1.5", ...) into prose.
func jsonValueKind(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "a boolean"
	case v == "string":
		return "a string"
	case strings.HasPrefix(v, "number"):
		return strings.TrimSpace("a " + v)
	}
	return v
}
