package memory

// RecordCount returns how many records s holds, expired ones included.
func RecordCount(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.records)
}
