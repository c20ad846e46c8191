package connector

import "github.com/tdsc/tdsc/connector/store"

// Store is the node's SQL store, for the package's tests only: nothing
// outside the connector reads its tables (operators go through the
// management API, connector/client).
func (n *Node) Store() *store.Store { return n.st }
