package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// Chromium returns the path of the Chromium the browser tests drive:
// $SESSIOND_TEST_CHROMIUM, else /usr/bin/chromium (Debian's package). It
// FAILS the test when there is none, with the command that installs it; it
// never skips.
func Chromium(t testing.TB) string {
	t.Helper()
	path := env("SESSIOND_TEST_CHROMIUM", DefaultChromium)
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil && path == DefaultChromium {
			return p
		}
		t.Fatalf("testenv: Chromium not found at %s: %v; install it with: apt-get update && apt-get install -y chromium (or set SESSIOND_TEST_CHROMIUM)", path, err)
	}
	return path
}
