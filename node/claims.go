package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
)

// SetUserClaims replaces the application claims of the user userID, in
// this order: first those of its built-in account, if userID names one,
// so that its later logins carry them; then those of its live sessions
// (session.Manager.SetUserClaims: from each one's next refresh, or, with
// revoke, the sessions are revoked at once). For a user that is not a
// built-in account only its sessions change: a backend that mints
// sessions gives their claims at each mint.
//
// The order is what lets a login racing with the change catch up: a login
// reads the account before it starts its session, and reads it again
// after (see the server's login); the account written here before the
// sessions are listed means that a session this listing missed was
// started after the write, so that second read sees the new claims.
//
// The user id and the claims are checked before anything is written
// (session.ErrInvalidUserID, session.ErrInvalidClaims: nothing changed).
// It reports whether userID named an account, and the ids of the sessions
// changed or revoked.
func (n *Node) SetUserClaims(ctx context.Context, userID string, claims map[string]json.RawMessage, revoke bool) (bool, []string, error) {
	if err := session.CheckUserID(userID); err != nil {
		return false, nil, err
	}
	claims, err := n.mgr.CheckClaims(claims)
	if err != nil {
		return false, nil, err
	}
	isAccount := true
	switch err := n.accounts.SetClaims(ctx, userID, claims); {
	case errors.Is(err, account.ErrNotFound):
		isAccount = false
	case err != nil:
		return false, nil, err
	}
	ids, err := n.mgr.SetUserClaims(ctx, userID, claims, revoke)
	if err != nil && isAccount {
		// Said, since a retry is what finishes the change.
		return true, ids, fmt.Errorf("the account's claims were set but not all of its sessions': %w", err)
	}
	return isAccount, ids, err
}
