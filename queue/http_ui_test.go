package queue_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/queue"
)

func TestHTTPDashboardIsServedUnderAPrefix(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	mux := http.NewServeMux()
	mux.Handle("/admin/queue/", http.StripPrefix("/admin/queue", h))

	rec := httpDo(mux, http.MethodGet, "/admin/queue/ui", "")
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	base, err := url.Parse("http://example.com/admin/queue/ui")
	require.NoError(t, err)
	loc, err := base.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "/admin/queue/ui/", loc.Path, "the redirect keeps the prefix")

	tests := []struct{ path, contentType string }{
		{"/admin/queue/ui/", "text/html"},
		{"/admin/queue/ui/app.js", "text/javascript"},
		{"/admin/queue/ui/style.css", "text/css"},
	}
	for _, tt := range tests {
		rec := httpDo(mux, http.MethodGet, tt.path, "")
		require.Equal(t, http.StatusOK, rec.Code, "GET %s", tt.path)
		assert.Contains(t, rec.Header().Get("Content-Type"), tt.contentType, "GET %s", tt.path)
		assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'", "GET %s", tt.path)
	}
	rec = httpDo(mux, http.MethodGet, "/admin/queue/ui/nope.js", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// The page says whether the handler is read-only, so the dashboard can hide
// its buttons even when the broker cannot answer GET /queues.
func TestHTTPDashboardPageSaysReadOnly(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		_, _, h := httpFixture(t, queue.HTTPConfig{ReadOnly: readOnly})
		rec := httpDo(h, http.MethodGet, "/ui/", "")
		require.Equal(t, http.StatusOK, rec.Code)
		want := `data-read-only="false"`
		if readOnly {
			want = `data-read-only="true"`
		}
		assert.Contains(t, rec.Body.String(), want, "ReadOnly %v", readOnly)
		assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	}
}

// The dashboard's files are small, load nothing from another site, and
// use only relative URLs (so that they work under any prefix).
func TestDashboardAssetsAreSmallSelfContainedAndRelative(t *testing.T) {
	absolute := regexp.MustCompile(`(?:src|href)="/|(?:fetch|EventSource|URL)\(\s*['"` + "`" + `]/|https?://`)
	total := 0
	err := filepath.WalkDir("ui", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		total += len(b)
		if loc := absolute.FindIndex(b); loc != nil {
			t.Errorf("%s: absolute URL %q", path, b[loc[0]:min(loc[1]+20, len(b))])
		}
		if strings.HasSuffix(path, ".html") && strings.Contains(string(b), "<script>") {
			t.Errorf("%s: inline script (the Content-Security-Policy forbids it)", path)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Less(t, total, 100<<10, "bytes of dashboard assets")
	assert.Greater(t, total, 1000, "bytes of dashboard assets")
}
