package main

import (
	_ "embed"
	"encoding/json"
	"os"
	"path/filepath"
)

// pprofOverlay is a file added to package main of cmd/sessiond at build
// time (go build -overlay), only for --profile: it serves net/http/pprof
// on the loopback address in SESSIOND_BENCH_PPROF_ADDR. sessiond itself
// has no profiling endpoint, and the repository keeps none.
//
//go:embed pprof_overlay.go.txt
var pprofOverlay []byte

// writeOverlay writes the overlay file and its go build -overlay JSON into
// dir and returns the JSON's path.
func writeOverlay(dir, repo string) (string, error) {
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, pprofOverlay, 0o600); err != nil {
		return "", err
	}
	target := filepath.Join(repo, "cmd", "sessiond", "zz_bench_pprof.go")
	b, err := json.Marshal(map[string]map[string]string{"Replace": {target: src}})
	if err != nil {
		return "", err
	}
	ov := filepath.Join(dir, "overlay.json")
	return ov, os.WriteFile(ov, b, 0o600)
}
