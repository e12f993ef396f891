package ec2

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/kplane/kplane/internal/auth"
)

// apiError is an EC2 error: its code and message go in EC2's own error
// document, <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.
type apiError struct {
	status int
	code   string
	msg    string
}

func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// EC2's error codes that kplane answers.
const (
	codeInvalidAction          = "InvalidAction"
	codeMissingAction          = "MissingAction"
	codeNoSuchVersion          = "NoSuchVersion"
	codeUnknownParameter       = "UnknownParameter"
	codeMissingParameter       = "MissingParameter"
	codeInvalidParameterValue  = "InvalidParameterValue"
	codeInvalidParameterCombo  = "InvalidParameterCombination"
	codeInvalidPaginationToken = "InvalidPaginationToken"
	codeUnsupportedOperation   = "UnsupportedOperation"
	codeDryRunOperation        = "DryRunOperation"
	codeDependencyViolation    = "DependencyViolation"
	codeCannotDelete           = "CannotDelete"
	codeInvalidID              = "InvalidID"
	codeTagLimitExceeded       = "TagLimitExceeded"
	codeInternalError          = "InternalError"
	codeVpcNotSpecified        = "VPCIdNotSpecified"
	codeInvalidVpcRange        = "InvalidVpc.Range"
	codeInvalidSubnetRange     = "InvalidSubnet.Range"
	codeInvalidSubnetConflict  = "InvalidSubnet.Conflict"
	codeInvalidGroupDuplicate  = "InvalidGroup.Duplicate"
	codeInvalidGroupNotFound   = "InvalidGroup.NotFound"
	codeRequestEntityTooLarge  = "RequestEntityTooLarge"

	codeInvalidPermissionDuplicate = "InvalidPermission.Duplicate"
	codeInvalidPermissionNotFound  = "InvalidPermission.NotFound"
	codeRulesLimitExceeded         = "RulesPerSecurityGroupLimitExceeded"
)

func missing(param string) *apiError {
	return errorf(codeMissingParameter, "The request must contain the parameter %s", param)
}

func invalidValue(param, value, why string) *apiError {
	return errorf(codeInvalidParameterValue, "Value (%s) for parameter %s is invalid. %s", value, param, why)
}

func internalError() *apiError {
	return &apiError{status: http.StatusInternalServerError, code: codeInternalError, msg: "An internal error has occurred"}
}

func dryRun() *apiError {
	return &apiError{status: http.StatusPreconditionFailed, code: codeDryRunOperation, msg: "Request would have succeeded, but DryRun flag is set."}
}

// kinds of resource ids, with their not-found and malformed errors.
type idKind struct {
	prefix    string // "vpc-"
	notFound  string // error code
	malformed string
	noun      string // as the messages name it
}

var (
	vpcIDs    = idKind{"vpc-", "InvalidVpcID.NotFound", "InvalidVpcID.Malformed", "vpc ID"}
	subnetIDs = idKind{"subnet-", "InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed", "subnet ID"}
	groupIDs  = idKind{"sg-", codeInvalidGroupNotFound, "InvalidGroupId.Malformed", "security group"}
)

func (k idKind) notFoundError(id string) *apiError {
	return errorf(k.notFound, "The %s '%s' does not exist", k.noun, id)
}

// check answers the malformed error for an id that is not PREFIX[0-9a-zA-Z]+.
func (k idKind) check(id string) *apiError {
	rest, ok := bytes.CutPrefix([]byte(id), []byte(k.prefix))
	valid := ok && len(rest) > 0 && len(rest) <= 64
	for _, c := range rest {
		valid = valid && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}
	if valid {
		return nil
	}
	return errorf(k.malformed, "Invalid id: %q (expecting %q)", printable(id), k.prefix+"...")
}

// authError words a signature refusal as EC2 does.
func authError(rej *auth.Rejection) *apiError {
	e := &apiError{status: rej.Status, code: rej.Code, msg: rej.Message}
	switch rej.Code {
	case auth.CodeMissingAuthenticationToken:
		e.status, e.code = http.StatusUnauthorized, "MissingAuthenticationToken"
		e.msg = "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
	case auth.CodeIncompleteSignature:
		e.code = "IncompleteSignature"
	case auth.CodeInvalidSignature:
		e.code = "SignatureDoesNotMatch"
		if rej.Reason == auth.ReasonSignatureExpired || rej.Reason == auth.ReasonSignatureNotYet || rej.Reason == auth.ReasonPresignExpired {
			e.code = "RequestExpired"
		}
	case auth.CodeUnrecognizedClient:
		e.status, e.code = http.StatusUnauthorized, "AuthFailure"
		e.msg = "AWS was not able to validate the provided access credentials"
	case auth.CodeExpiredToken:
		e.code = "RequestExpired"
	case auth.CodeInternalFailure:
		return internalError()
	}
	return e
}

// writeError writes EC2's error document.
func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Response><Errors><Error><Code>")
	xml.EscapeText(&b, []byte(e.code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(printableMessage(e.msg)))
	b.WriteString("</Message></Error></Errors><RequestID>")
	xml.EscapeText(&b, []byte(reqID))
	b.WriteString("</RequestID></Response>")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status)
	w.Write(b.Bytes())
}

// printable makes client input safe and short to quote in a message.
func printable(s string) string {
	const most = 256
	var b []rune
	for i, r := range s {
		if i >= most {
			return string(b) + "..."
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			r = '?'
		}
		b = append(b, r)
	}
	return string(b)
}

// printableMessage drops what XML 1.0 cannot carry from a message.
func printableMessage(s string) string {
	var b []rune
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0xfffe || r == 0xffff {
			r = '?'
		}
		b = append(b, r)
	}
	return string(b)
}
