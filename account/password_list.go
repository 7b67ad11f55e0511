package account

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// commonPasswordsGz is SecLists' 10-million-password-list-top-100000.txt
// (the 100,000 most common passwords of Mark Burnett's ten million, most
// common first, one a line), gzipped, byte for byte as the source has it:
// see passwordlist/README.md for its origin, licence and checksum.
//
//go:embed passwordlist/10-million-password-list-top-100000.txt.gz
var commonPasswordsGz []byte

// commonPasswordSet is the list as it is searched: every entry lowercased,
// those shorter than MinPasswordLen dropped (ValidatePassword refuses
// them already), duplicates removed, sorted. To stay compact it is one
// string holding the entries back to back, and the offset where each
// starts: about 470 KB for the 38,452 entries left of the 100,000, where
// a []string would add 16 bytes of header per entry and a map more.
type commonPasswordSet struct {
	blob   string
	starts []uint32 // entry i is blob[starts[i]:starts[i+1]]; len = entries+1
	maxLen int      // longest entry in bytes: longer candidates are not looked up
}

// loadCommonPasswords decompresses and indexes the embedded list, once, on
// first use: a process that never validates a new password never pays for
// it.
var loadCommonPasswords = sync.OnceValues(func() (*commonPasswordSet, error) {
	lines, err := readCommonPasswords()
	if err != nil {
		return nil, err
	}
	return newCommonPasswordSet(lines), nil
})

// readCommonPasswords returns the embedded list's entries as the source
// has them, in its order, unfiltered.
func readCommonPasswords() ([]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		return nil, fmt.Errorf("account: common password list: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("account: common password list: %w", err)
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("account: common password list: not valid UTF-8")
	}
	text := strings.TrimSuffix(string(raw), "\n")
	if text == "" {
		return nil, fmt.Errorf("account: common password list: empty")
	}
	return strings.Split(text, "\n"), nil
}

// newCommonPasswordSet builds the searchable form of entries: lowercased,
// at least MinPasswordLen characters, deduplicated and sorted.
func newCommonPasswordSet(entries []string) *commonPasswordSet {
	keep := make([]string, 0, len(entries)/2)
	for _, e := range entries {
		if utf8.RuneCountInString(e) >= MinPasswordLen {
			keep = append(keep, strings.ToLower(e))
		}
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	size := 0
	for _, e := range keep {
		size += len(e)
	}
	var b strings.Builder
	b.Grow(size)
	s := &commonPasswordSet{starts: make([]uint32, 0, len(keep)+1)}
	for _, e := range keep {
		s.starts = append(s.starts, uint32(b.Len()))
		b.WriteString(e)
		s.maxLen = max(s.maxLen, len(e))
	}
	s.starts = append(s.starts, uint32(b.Len()))
	s.blob = b.String()
	return s
}

// len returns the number of entries.
func (s *commonPasswordSet) len() int { return len(s.starts) - 1 }

// entry returns entry i.
func (s *commonPasswordSet) entry(i int) string { return s.blob[s.starts[i]:s.starts[i+1]] }

// contains reports whether pw, compared case-insensitively, is an entry.
func (s *commonPasswordSet) contains(pw string) bool {
	pw = strings.ToLower(pw)
	if len(pw) > s.maxLen {
		return false
	}
	n := s.len()
	i := sort.Search(n, func(i int) bool { return s.entry(i) >= pw })
	return i < n && s.entry(i) == pw
}
