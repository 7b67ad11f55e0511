package pgstore

// ParseNotification exposes the NOTIFY payload parser to the fuzz target.
var ParseNotification = parseNotification
