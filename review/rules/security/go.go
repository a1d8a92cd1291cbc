package main

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
)

func run(name string) {
	// ruleid: go.security.exec-shell
	exec.Command("sh", "-c", "ls "+name).Run()
	// ok: go.security.exec-shell
	exec.Command("ls", name).Run()
}

func query(db *sql.DB, id string) {
	// ruleid: go.security.sql-sprintf
	db.Query(fmt.Sprintf("SELECT * FROM users WHERE id = %s", id))
	// ok: go.security.sql-sprintf
	db.Query("SELECT * FROM users WHERE id = $1", id)
}

func digest(data []byte) {
	// ruleid: go.security.weak-hash
	md5.Sum(data)
	// ok: go.security.weak-hash
	sha256.Sum256(data)
}

func client() *tls.Config {
	// ruleid: go.security.tls-insecure-skip-verify
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
}

func proxy(w http.ResponseWriter, r *http.Request) {
	url := r.URL.Query().Get("url")
	// ruleid: go.security.ssrf-request-url
	http.Get(url)
	// ok: go.security.ssrf-request-url
	http.Get("https://example.com/health")
}

func file(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("name")
	// ruleid: go.security.path-traversal-request
	os.ReadFile(name)
	// ok: go.security.path-traversal-request
	os.ReadFile(filepath.Base(r.FormValue("name")))
}

func page(comment string) template.HTML {
	// ok: go.security.template-html-cast
	_ = template.HTML("<b>static</b>")
	// ruleid: go.security.template-html-cast
	return template.HTML(comment)
}
