package token

import (
	"errors"
	"unicode/utf8"
)

// This file is a deliberately narrow JSON scanner for the two flat objects
// sessiond reads from a token: the JOSE header and the claims set. It is
// hand-written instead of using encoding/json for two reasons:
//
//   - Strictness. encoding/json keeps the last of duplicate member names and
//     matches struct fields case-insensitively, so {"sub":"a","SUB":"b"} or
//     {"exp":1,"exp":9e9} would be accepted. Here a member name must match
//     exactly, appear at most once, and belong to the small set we issue;
//     anything else is refused.
//   - Speed. The verify path is the hot path of every request. The scanner
//     works on the decoded bytes in place and allocates only the strings it
//     returns.
//
// It accepts exactly RFC 8259 JSON for the shapes it knows (insignificant
// whitespace included) and nothing more: member names must be plain ASCII
// without escapes, numbers must be non-negative integers without fraction or
// exponent, strings must be valid UTF-8 without raw control characters and
// without lone surrogates in \u escapes.

var errJSON = errors.New("invalid JSON")

type scanner struct {
	b     []byte
	i     int
	first bool
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) ws() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// begin consumes the opening brace of the top-level object.
func (s *scanner) begin() error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return errJSON
	}
	s.i++
	s.first = true
	return nil
}

// next returns the name of the next member, with the scanner positioned at
// its value, or more=false at the closing brace.
func (s *scanner) next() (name []byte, more bool, err error) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, false, errJSON
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, false, nil
	}
	if !s.first {
		if s.b[s.i] != ',' {
			return nil, false, errJSON
		}
		s.i++
		s.ws()
	}
	s.first = false
	name, err = s.name()
	if err != nil {
		return nil, false, err
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, false, errJSON
	}
	s.i++
	s.ws()
	return name, true, nil
}

// end checks that only whitespace follows the object.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errJSON
	}
	return nil
}

// name reads a member name: printable ASCII, no escapes. A name that needs
// escaping is not one we know, so refusing it here loses nothing.
func (s *scanner) name() ([]byte, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, errJSON
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			n := s.b[start:s.i]
			s.i++
			return n, nil
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, errJSON
		}
		s.i++
	}
	return nil, errJSON
}

// str reads a string value. Without escapes it returns a view into the
// input; with escapes it decodes into dst (appending) and returns that.
func (s *scanner) str(dst []byte) ([]byte, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, errJSON
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return nil, errJSON
			}
			return v, nil
		case c == '\\':
			return s.strSlow(append(dst, s.b[start:s.i]...))
		case c < 0x20:
			return nil, errJSON
		}
		s.i++
	}
	return nil, errJSON
}

func (s *scanner) strSlow(dst []byte) ([]byte, error) {
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(dst) {
				return nil, errJSON
			}
			return dst, nil
		case c < 0x20:
			return nil, errJSON
		case c != '\\':
			dst = append(dst, c)
			s.i++
			continue
		}
		// Escape sequence.
		if s.i+1 >= len(s.b) {
			return nil, errJSON
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, errJSON
			}
			switch {
			case r >= 0xD800 && r < 0xDC00: // high surrogate: a low one must follow
				if s.i+1 >= len(s.b) || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return nil, errJSON
				}
				s.i += 2
				lo, ok := s.hex4()
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return nil, errJSON
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			case r >= 0xDC00 && r < 0xE000: // lone low surrogate
				return nil, errJSON
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return nil, errJSON
		}
	}
	return nil, errJSON
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	s.i += 4
	return r, true
}

// numericDate reads a NumericDate as issued by sessiond: a non-negative
// integer number of seconds, no sign, fraction, exponent or leading zero,
// at most maxNumericDate.
func (s *scanner) numericDate() (int64, error) {
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
		if n > maxNumericDate {
			return 0, errJSON
		}
	}
	digits := s.i - start
	if digits == 0 || (digits > 1 && s.b[start] == '0') {
		return 0, errJSON
	}
	// The number must end here: a '.', 'e' or 'E' would make it a float.
	if s.i < len(s.b) {
		if c := s.b[s.i]; c != ',' && c != '}' && !isSpace(c) {
			return 0, errJSON
		}
	}
	return n, nil
}
