package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// The web page: GET /ui/ serves the files of ui/, embedded in the binary.
// They are plain HTML, CSS and JavaScript modules, with no build step and
// nothing fetched from elsewhere: the page talks to this API alone (see
// docs/ui.md). The files are open to all, like the probes, so that a
// browser can load the page that asks for a token; everything the page
// shows comes from the API, which asks for the token as it always does.

//go:embed ui
var uiFiles embed.FS

// uiCSP keeps the page to its own files and its own API: no inline
// script or style, no other origin, no framing (the refine form must not
// be clickjacked).
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiFile is one embedded file, ready to serve.
type uiFile struct {
	body  []byte
	ctype string
	etag  string
}

// uiAssets are the embedded files by path under /ui/ ("" is index.html).
var uiAssets = func() map[string]uiFile {
	out := map[string]uiFile{}
	_ = fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the system's MIME tables
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "ui/")] = uiFile{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	out[""] = out["index.html"]
	return out
}()

// UIBytes is the size of the web page's embedded files.
func UIBytes() int {
	n := 0
	for name, f := range uiAssets {
		if name != "" {
			n += len(f.body)
		}
	}
	return n
}

// ui answers GET /ui/...: an embedded file, with headers that keep the
// page to itself.
func (s *Server) ui(w http.ResponseWriter, r *http.Request) {
	f, ok := uiAssets[strings.TrimPrefix(r.URL.Path, "/ui/")]
	if !ok {
		s.writeError(w, r, http.StatusNotFound, ReasonNotFound, "", errNoSuchFile(r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

type errNoSuchFile string

func (e errNoSuchFile) Error() string { return "no such file of the web page: " + string(e) }
