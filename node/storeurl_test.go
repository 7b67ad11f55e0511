package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/node"
)

// A library caller's error from OpenBackend never carries the password of
// the store URL.
func TestOpenBackendErrorsHidePasswords(t *testing.T) {
	for _, url := range []string{
		"ftp://user:hunter2secret@host/db",
		"nope://x?password=hunter2secret",
		"memory://user:hunter2secret@x",
		"redis-cluster://u:hunter2secret@h1:1,nonsense",
		"postgres://u:hunter2secret@host:notaport/db",
	} {
		_, _, err := node.OpenBackend(context.Background(), url, node.OpenOptions{})
		if !errors.Is(err, node.ErrConfig) {
			t.Fatalf("%s: want a configuration error, got %v", url, err)
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}
