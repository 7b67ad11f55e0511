package memstore

// accounts holds the account.Store half of Store (filled in by accounts.go's owner).
type accounts struct{}
