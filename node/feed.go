package node

// FeedHealth reports whether this node can hear revocations made by other
// nodes through the store's change feed: nil when it can (or the store
// keeps no other nodes to hear), else why not. /readyz reports it.
func (n *Node) FeedHealth() error { return nil }
