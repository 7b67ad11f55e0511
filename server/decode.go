package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/sessiond/sessiond/httpauth"
)

// maxBody is the largest request body any endpoint accepts.
const maxBody = 16 << 10

// errHandled means the error answer was already written.
var errHandled = errors.New("server: answered")

// decode reads a JSON request body into dst strictly: the content type must
// be application/json, the body at most maxBody bytes, one JSON object with
// only dst's exact (case-sensitive) member names, each at most once, of the
// right types, and nothing after it. On failure it writes the error answer
// (415, 413 or 400) and returns errHandled.
//
// It uses the encoding/json v2 semantics (github.com/go-json-experiment/json)
// because encoding/json v1 matches names case-insensitively and lets a
// duplicate name silently override the first.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		httpauth.WriteError(w, http.StatusUnsupportedMediaType, httpauth.CodeUnsupportedMedia, "Content-Type must be application/json")
		return errHandled
	}
	if cs, ok := params["charset"]; ok && cs != "utf-8" && cs != "UTF-8" {
		httpauth.WriteError(w, http.StatusUnsupportedMediaType, httpauth.CodeUnsupportedMedia, "charset must be utf-8")
		return errHandled
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpauth.WriteError(w, http.StatusRequestEntityTooLarge, httpauth.CodeTooLarge, fmt.Sprintf("request body over %d bytes", maxBody))
			return errHandled
		}
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "could not read the request body")
		return errHandled
	}
	if err := jsonv2.Unmarshal(body, dst, jsonv2.RejectUnknownMembers(true)); err != nil {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "malformed JSON body: "+jsonErrorText(err))
		return errHandled
	}
	return nil
}

// jsonErrorText says what is wrong with a body in the client's terms: the
// member (as a JSON Pointer) and what was expected, never a Go type.
func jsonErrorText(err error) string {
	var sem *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	var s string
	switch {
	case errors.As(err, &sem) && errors.Is(sem.Err, jsonv2.ErrUnknownName):
		s = fmt.Sprintf("unknown member %q", string(sem.JSONPointer))
	case errors.As(err, &sem) && sem.Err == nil && sem.GoType != nil:
		where := string(sem.JSONPointer)
		if where == "" {
			where = "the body"
		}
		s = fmt.Sprintf("%s: want %s, got %s", where, jsonKindOf(sem.GoType), kindName(sem.JSONKind))
	case errors.As(err, &sem):
		s = fmt.Sprintf("%s: invalid value", string(sem.JSONPointer))
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		s = fmt.Sprintf("duplicate member %q", string(syn.JSONPointer))
	case errors.As(err, &syn):
		s = fmt.Sprintf("invalid JSON at byte %d: %v", syn.ByteOffset, syn.Err)
	default:
		s = "invalid JSON"
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// jsonKindOf names the JSON a Go type is decoded from.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	}
	return "another value"
}

// kindName names a JSON kind as a client would.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "something else"
}
