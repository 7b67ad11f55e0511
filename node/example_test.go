package node_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
)

// A Go program that embeds a node gets what sessiond serve runs: the store,
// the shared key ring with its scheduled rotation and reload, the sweeper
// and the revocation feed. Open starts nothing; Run does, until ctx ends.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "sessiond-example")
	defer os.RemoveAll(dir)
	ctx, stop := context.WithCancel(context.Background())
	master := make([]byte, 32) // in production: node.ParseMasterKey(os.Getenv("SESSIOND_MASTER_KEY"))
	rand.Read(master)

	n, err := node.Open(ctx, node.Config{
		Store:     "bolt://" + filepath.Join(dir, "data"), // or redis://..., postgres://...
		MasterKey: master,
		Issuer:    "https://auth.example.com",
		Audience:  "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	<-n.Running()

	tokens, err := n.Manager().Login(ctx, "user-42", session.Meta{AuthMethod: "passkey"})
	if err != nil {
		log.Fatal(err)
	}
	id, err := n.Manager().Verify(ctx, tokens.AccessToken)
	fmt.Println(id.UserID, err)

	stop()
	fmt.Println(<-done)
	// Output:
	// user-42 <nil>
	// <nil>
}
