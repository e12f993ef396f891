package eks

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is a modeled EKS error: its type goes in x-amzn-ErrorType, its
// status is the model's, and its body is {"message": ..., <fields>}.
type Error struct {
	Type    string
	Status  int
	Message string
	// Fields are the shape's extra members (clusterName, validZones, ...).
	Fields map[string]any
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// With returns e with one more body field.
func (e *Error) With(key string, value any) *Error {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	e.Fields[key] = value
	return e
}

// The modeled errors of EKS 2017-11-01 and their statuses.
const (
	AccessDenied                = "AccessDeniedException"
	BadRequest                  = "BadRequestException"
	ClientError                 = "ClientException"
	InvalidParameter            = "InvalidParameterException"
	InvalidRequest              = "InvalidRequestException"
	InvalidState                = "InvalidStateException"
	NotFound                    = "NotFoundException"
	ResourceInUse               = "ResourceInUseException"
	ResourceLimitExceeded       = "ResourceLimitExceededException"
	ResourceNotFound            = "ResourceNotFoundException"
	ServerError                 = "ServerException"
	ServiceUnavailable          = "ServiceUnavailableException"
	Throttling                  = "ThrottlingException"
	UnsupportedAvailabilityZone = "UnsupportedAvailabilityZoneException"
)

var errorStatus = map[string]int{
	AccessDenied:                http.StatusForbidden,
	BadRequest:                  http.StatusBadRequest,
	ClientError:                 http.StatusBadRequest,
	InvalidParameter:            http.StatusBadRequest,
	InvalidRequest:              http.StatusBadRequest,
	InvalidState:                http.StatusBadRequest,
	NotFound:                    http.StatusNotFound,
	ResourceInUse:               http.StatusConflict,
	ResourceLimitExceeded:       http.StatusBadRequest,
	ResourceNotFound:            http.StatusNotFound,
	ServerError:                 http.StatusInternalServerError,
	ServiceUnavailable:          http.StatusServiceUnavailable,
	Throttling:                  http.StatusTooManyRequests,
	UnsupportedAvailabilityZone: http.StatusBadRequest,
}

// Errorf makes a modeled error of type typ.
func Errorf(typ, format string, args ...any) *Error {
	status, ok := errorStatus[typ]
	if !ok {
		status = http.StatusBadRequest
	}
	return &Error{Type: typ, Status: status, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam is an InvalidParameterException naming the cluster when known.
func InvalidParam(cluster, format string, args ...any) *Error {
	e := Errorf(InvalidParameter, format, args...)
	if cluster != "" {
		e.With("clusterName", cluster)
	}
	return e
}

// ClusterNotFound is the ResourceNotFoundException EKS answers for a missing cluster.
func ClusterNotFound(name string) *Error {
	return Errorf(ResourceNotFound, "No cluster found for name: %s.", name).With("clusterName", name)
}

// WriteError writes e as restJson1 expects.
func WriteError(w http.ResponseWriter, e *Error) {
	body := make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		body[k] = v
	}
	body["message"] = e.Message
	h := w.Header()
	h.Set("x-amzn-ErrorType", e.Type)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(body)
}
