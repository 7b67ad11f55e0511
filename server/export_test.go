package server

import "slices"

// RoutePatterns returns the route patterns s serves, in registration
// order, for the contract test (openapi_contract_test.go).
func RoutePatterns(s *Server) []string { return slices.Clone(s.patterns) }
