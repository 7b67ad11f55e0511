package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

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

// jsonErrorText shortens a decoding error to what the client needs.
func jsonErrorText(err error) string {
	s := strings.TrimPrefix(err.Error(), "json: ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
