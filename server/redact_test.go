package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/server"
)

// A library caller's error from OpenBackend never carries the password of
// the store URL.
func TestOpenBackendErrorsHidePasswords(t *testing.T) {
	for _, url := range []string{
		"ftp://user:hunter2secret@host/db",
		"nope://x?password=hunter2secret",
		"memory://user:hunter2secret@x",
	} {
		_, _, _, err := server.OpenBackend(context.Background(), url, server.OpenOptions{})
		if err == nil {
			t.Fatalf("%s: opened", url)
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}
