package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
)

// query returns the request's query parameters once each of names, the
// handler's single-valued parameters, is found at most once. A repeated one
// (?await=a&await=b) is answered 400 bad_parameter, naming it, and query
// returns false: reading its first value would silently ignore the others,
// and the client meant something by them.
func (s *Server) query(w http.ResponseWriter, r *http.Request, cell string, names ...string) (url.Values, bool) {
	q := r.URL.Query()
	for _, name := range names {
		if n := len(q[name]); n > 1 {
			s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell,
				fmt.Errorf("query parameter %q given %d times: give it once", name, n))
			return nil, false
		}
	}
	return q, true
}
