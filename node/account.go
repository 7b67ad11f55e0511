package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/session"
)

// ErrSessionsRemain is wrapped by DeleteAccount's error when the account
// was deleted but ending its sessions failed (the store failed between the
// two steps): the account is gone, so a second DeleteAccount finds none;
// end the sessions with a log out everywhere of the user
// (session.Manager.RevokeUser: DELETE /admin/v1/users/{id}/sessions,
// sessiond sessions revoke --user). The error also wraps the store's.
var ErrSessionsRemain = errors.New("the account was deleted but not all of its sessions were ended")

// DeleteAccount deletes the built-in account id and ends every session of
// its user, on every node: the one rule behind sessiond users delete,
// DELETE /admin/v1/users/{id} and DELETE /v1/account. reason says who
// asked ("admin", "cli", "self"), for the account.deleted audit event. It
// returns how many sessions it ended.
//
// A user id no store can keep is session.ErrInvalidUserID and an id with
// no account account.ErrNotFound; nothing is changed then. A deletion, once
// begun, goes on when ctx is cancelled (a client that hangs up must not
// leave an account deleted and its sessions alive); each store call keeps
// its deadline (Config.StoreTimeout). A failure to end the sessions once
// the account is gone is ErrSessionsRemain. When the store fails deleting
// the account, whether the deletion took effect is unknown (a call that
// timed out may still land): the sessions are ended all the same, failing
// closed, and the store's error is returned.
//
// The sessions end as a revocation does (session.Manager.RevokeUser): the
// store deletes them and records their revocations, which its change feed
// pushes to every node, so their refresh tokens and access tokens are
// refused everywhere at once.
//
// # Logins in flight
//
// The account is deleted FIRST, then the user's sessions are ended. A
// login (the server's handleLogin) reads the account (Authenticate),
// creates its session, and then reads the account again (settleLoginClaims);
// if that read finds no account, the login ends its own session and answers
// 401. So every session of a login racing with a deletion ends, whatever
// the interleaving: if the deletion's revocation (the store's DeleteUser)
// missed the session, the session was written after DeleteUser looked,
// hence after the account was deleted, and the login's second read, later
// still, finds no account. Sessions that existed before are DeleteUser's.
//
// "Later" needs every store to order these operations as their callers
// saw them happen (each takes effect between its call and its answer, and
// a step starts only once the one before it has answered):
//
//   - memory: one mutex serialises every operation.
//   - bolt: write transactions (DeleteAccount, DeleteUser, Create) run one
//     at a time, and a read transaction (AccountByID) sees every write
//     transaction committed before it began.
//   - PostgreSQL: each call is one statement in its own transaction, READ
//     COMMITTED. DeleteUser's DELETE ... RETURNING sees the rows committed
//     before its statement began; a session row it did not see was
//     committed after that, so after the account's DELETE had committed,
//     and the login's re-read, a statement begun after its INSERT
//     committed, sees the account gone.
//   - Redis: one server runs commands and scripts one at a time.
//   - Redis Cluster: the account (a:{id}), the user's session index
//     (u:{user}) and each session (s:{sid}) hash to different slots,
//     served by different masters, with no order across them. But each
//     master applies the commands on its keys one at a time, and the
//     steps here wait for each answer, so each command takes effect at
//     one instant between its call and its answer, and those instants are
//     ordered across keys as the calls were (linearizability is local:
//     per-key order composes). Let the account's deletion take effect at
//     A; DeleteUser reads the index at I > A, then marks each listed
//     session dead at K > I. Create adds the index entry at E, then
//     writes the session at S > E; the login re-reads the account at
//     R > S. DeleteUser misses the session only if the entry was not yet
//     in the index (E > I, so S > I > A) or the session was not yet
//     written when it looked (S > K > A); either way R > S > A, and the
//     re-read finds no account. Reads go to masters (the client never
//     reads from replicas), so no read is served stale; a failover that
//     loses acknowledged writes (Redis replicates asynchronously) may undo
//     a deletion, as it may undo any write (see the README's durability
//     table).
//
// A login that creates its session but cannot end it (the store fails
// between the two steps) answers no tokens: nobody can use that session,
// and it ends at its idle timeout. Sessions a service client mints (POST
// /v1/sessions) are for users that client authenticated itself, whose ids
// sessiond does not check against its accounts; a deletion ends the ones
// that exist.
func (n *Node) DeleteAccount(ctx context.Context, id, reason string) (int, error) {
	if err := session.CheckUserID(id); err != nil {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx)
	if err := n.accounts.Delete(ctx, id); errors.Is(err, account.ErrNotFound) {
		return 0, err
	} else if err != nil {
		if _, rerr := n.mgr.RevokeUserFor(ctx, id, "", "account deletion failed"); rerr != nil {
			n.cfg.Logger.WarnContext(ctx, "could not end the sessions of an account whose deletion failed", "err", rerr)
		}
		return 0, err
	}
	ids, err := n.mgr.RevokeUserFor(ctx, id, "", "account deleted")
	n.audit.Log(ctx, audit.Event{Kind: audit.AccountDeleted, UserID: id, Count: len(ids), Reason: reason})
	if err != nil {
		return len(ids), fmt.Errorf("%w: %w", ErrSessionsRemain, err)
	}
	return len(ids), nil
}
