package queue

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard of [NewHTTPHandlerWith]: static files embedded in the
// binary, served under /ui/. They call the JSON routes with relative URLs,
// so the dashboard works wherever the handler is mounted.

//go:embed ui
var uiFiles embed.FS

// uiCSP keeps the dashboard to its own files and API: no inline script,
// no other origin, and no framing by another site (a framed page could
// trick a user into pressing its buttons).
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiHandler serves the embedded dashboard for paths under /ui/. The page
// says whether the handler is read-only in its <html data-read-only>, so
// the dashboard hides its buttons even when the broker cannot answer.
func uiHandler(readOnly bool) http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree always has the folder
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	if readOnly {
		index = bytes.Replace(index, []byte(`data-read-only="false"`), []byte(`data-read-only="true"`), 1)
	}
	files := http.StripPrefix("/ui", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", uiCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/ui/" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// redirectToUI sends GET /ui to /ui/ with a relative Location, which keeps
// any prefix the handler is mounted under.
// (http.Redirect would make it absolute from the path after StripPrefix).
func redirectToUI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Location", "ui/")
	w.WriteHeader(http.StatusMovedPermanently)
}
