package server

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// openAPIDoc is the OpenAPI 3.1 description of every JSON route of the
// server (openapi.json in this package), as GET /openapi.json serves it.
// The contract test sends every operation it documents to a running
// server and validates each answer against it.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIETag is the strong validator of openAPIDoc: the document changes
// only with the binary.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDoc)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// handleOpenAPI serves the embedded OpenAPI document, with an ETag; a
// request whose If-None-Match names it gets 304.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", publicCache)
	h.Set("ETag", openAPIETag)
	if etagMatches(r.Header.Values("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	_, _ = w.Write(openAPIDoc)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2):
// "*", or any listed entity tag equal to etag once a W/ prefix is dropped.
func etagMatches(values []string, etag string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "*" || strings.TrimPrefix(part, "W/") == etag {
				return true
			}
		}
	}
	return false
}
