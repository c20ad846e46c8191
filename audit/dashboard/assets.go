package dashboard

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
)

// dist is the built front end (web/dist, committed; rebuild with scripts/dashboard-build.sh).
//
//go:embed web/dist
var dist embed.FS

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(dist, "web/dist/index.html")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(dist, "web/dist/assets/"+path.Base(name))
	if err != nil || name != path.Base(name) {
		http.NotFound(w, r)
		return
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		w.Header().Set("Content-Type", t)
	}
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
