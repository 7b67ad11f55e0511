package pgstore

// ParseNotification exposes the NOTIFY payload parser to the fuzz target.
var ParseNotification = parseNotification

// ListAccountsPageSQL is the page query of ListAccountsPage, for the test
// of its plan.
const ListAccountsPageSQL = listAccountsPageSQL
