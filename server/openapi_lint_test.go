package server_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenAPILint lints openapi.json with an independent linter, npm
// @redocly/cli (the version pinned by testdata/openapi-lint/package-lock.json,
// installed with npm ci into a temporary folder) and its recommended
// ruleset (testdata/openapi-lint/redocly.yaml): any error or warning fails.
// Node and npm are required: without them the test fails.
func TestOpenAPILint(t *testing.T) {
	for _, tool := range []string{"node", "npm", "npx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the OpenAPI lint test needs %s (Node 20.19 or later) on PATH: %v", tool, err)
		}
	}
	dir := t.TempDir()
	files := map[string]string{"openapi.json": "openapi.json"}
	for _, f := range []string{"package.json", "package-lock.json", "redocly.yaml", ".redocly.lint-ignore.yaml"} {
		files[f] = filepath.Join("testdata", "openapi-lint", f)
	}
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(name string, args ...string) (stdout, stderr string, err error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		return out.String(), errb.String(), err
	}
	if out, errs, err := run("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"); err != nil {
		t.Fatalf("npm ci: %v\n%s%s", err, out, errs)
	}
	out, errs, err := run("npx", "--no-install", "redocly", "lint", "--config", "redocly.yaml", "--format", "json", "openapi.json")
	var report struct {
		Totals struct {
			Errors, Warnings, Ignored int
		}
		Version  string
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string
			Message  string
			Location []struct {
				Pointer string
			}
		}
	}
	if jerr := json.Unmarshal([]byte(out), &report); jerr != nil || report.Version == "" {
		t.Fatalf("redocly lint (%v) printed no JSON report (%v):\n%s\n%s", err, jerr, out, errs)
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if report.Totals.Errors+report.Totals.Warnings > 0 || err != nil {
		t.Fatalf("redocly lint %s: %d errors, %d warnings (%v)", report.Version, report.Totals.Errors, report.Totals.Warnings, err)
	}
	t.Logf("redocly lint %s: no problem (%d ignored, see testdata/openapi-lint/.redocly.lint-ignore.yaml)", report.Version, report.Totals.Ignored)
}
