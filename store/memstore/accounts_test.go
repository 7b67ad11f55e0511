package memstore_test

import (
	"testing"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/account/accounttest"
	"github.com/sessiond/sessiond/store/memstore"
)

func TestAccountStore(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) account.Store { return memstore.New() })
}
