package redisstore

// Prefix returns the prefix of every key this store writes (see
// WithPrefix), so other users of the same Redis (the shared rate limiter)
// keep to the same namespace.
func (s *Store) Prefix() string { return s.prefix }
