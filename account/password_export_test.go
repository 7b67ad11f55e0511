package account

// ReadCommonPasswords exposes the embedded list, as the source has it, to
// the tests.
func ReadCommonPasswords() ([]string, error) { return readCommonPasswords() }

// CommonPasswordStats reports how many entries the searchable list holds
// and the bytes it keeps in memory (the entries' text and their offsets).
func CommonPasswordStats() (entries, bytes int, err error) {
	s, err := loadCommonPasswords()
	if err != nil {
		return 0, 0, err
	}
	return s.len(), len(s.blob) + 4*len(s.starts), nil
}

// BuildCommonPasswordSet builds the searchable list from the embedded
// file again, for the benchmark of the first use.
func BuildCommonPasswordSet() (int, error) {
	lines, err := readCommonPasswords()
	if err != nil {
		return 0, err
	}
	return newCommonPasswordSet(lines).len(), nil
}
