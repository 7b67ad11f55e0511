package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// sessionPage is the answer of the session listings (GET /v1/sessions,
// GET /admin/v1/users/{id}/sessions): one page, oldest first, and the
// cursor of the next page, omitted on the last one.
type sessionPage struct {
	Sessions   []sessionView `json:"sessions"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// pageQuery reads the query parameters of a listing: limit (a whole
// number from 1 to maxLimit; 0 when absent, for the listing's default)
// and cursor (a next_cursor of an earlier page, "" when absent). A limit
// out of range or either parameter given twice answers 400
// invalid_request, and ok is false.
func pageQuery(w http.ResponseWriter, r *http.Request, maxLimit int) (limit int, cursor string, ok bool) {
	q := r.URL.Query()
	for _, name := range []string{"limit", "cursor"} {
		if len(q[name]) > 1 {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "query parameter "+name+" given more than once")
			return 0, "", false
		}
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxLimit {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest,
				"limit must be a whole number from 1 to "+strconv.Itoa(maxLimit))
			return 0, "", false
		}
		limit = n
	}
	return limit, q.Get("cursor"), true
}

// writeBadCursor answers a cursor that the listing refused.
func writeBadCursor(w http.ResponseWriter) {
	httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "cursor is not a next_cursor of this listing")
}

// writeSessionPage answers a listing of userID's sessions from the query
// parameters limit (1..session.MaxPageSize, default
// session.DefaultPageSize) and cursor (a next_cursor of an earlier
// page), flagging the session current. A bad parameter is 400
// invalid_request and reads nothing.
func (s *Server) writeSessionPage(w http.ResponseWriter, r *http.Request, userID, current string) {
	limit, cursor, ok := pageQuery(w, r, session.MaxPageSize)
	if !ok {
		return
	}
	list, next, err := s.mgr.ListPage(r.Context(), userID, cursor, limit)
	if s.refusedInput(w, err) {
		return
	}
	if errors.Is(err, session.ErrInvalidPage) {
		writeBadCursor(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := sessionPage{Sessions: make([]sessionView, 0, len(list)), NextCursor: next}
	for _, sess := range list {
		out.Sessions = append(out.Sessions, view(sess, current))
	}
	writeJSON(w, http.StatusOK, out)
}
