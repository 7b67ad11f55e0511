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
//
// The value of an application claim may be any JSON value (value): the
// same strings, any RFC 8259 number, true, false, null, arrays and
// objects nested at most maxValueDepth deep, whose member names may not
// repeat (compared after unescaping, as a decoder would see them).

var (
	errJSON      = errors.New("invalid JSON")
	errDepth     = errors.New("JSON nested too deep")
	errDupMember = errors.New("duplicate member name in a JSON object")
)

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

// maxValueDepth is the deepest nesting of arrays and objects in the value
// of an application claim.
const maxValueDepth = 32

// checkValue reports whether b is exactly one JSON value, as value reads
// it, with optional whitespace around it.
func checkValue(b []byte) error {
	s := scanner{b: b}
	s.ws()
	if err := s.value(0); err != nil {
		return err
	}
	return s.end()
}

// value reads one JSON value at nesting depth depth (0 for a claim's
// value) and leaves the scanner just after it.
func (s *scanner) value(depth int) error {
	if s.i >= len(s.b) {
		return errJSON
	}
	switch c := s.b[s.i]; {
	case c == '"':
		var tmp [64]byte
		_, err := s.str(tmp[:0])
		return err
	case c == '{' || c == '[':
		if depth >= maxValueDepth {
			return errDepth
		}
		s.i++
		if c == '{' {
			return s.object(depth)
		}
		return s.array(depth)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return errJSON
}

// object reads the members of an object whose '{' has been consumed.
// Member names are compared after unescaping: "a" and "\u0061" are the
// same name to every decoder, so a repeat of either is refused.
func (s *scanner) object(depth int) error {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	var names []string       // the first few names, searched in order
	var many map[string]bool // all names, once there are more
	for {
		s.ws()
		n, err := s.str(nil)
		if err != nil {
			return err
		}
		switch {
		case many != nil:
			if many[string(n)] {
				return errDupMember
			}
			many[string(n)] = true
		default:
			for _, p := range names {
				if p == string(n) {
					return errDupMember
				}
			}
			names = append(names, string(n))
			if len(names) > 16 {
				many = make(map[string]bool, 2*len(names))
				for _, p := range names {
					many[p] = true
				}
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errJSON
		}
		s.i++
		s.ws()
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		if s.i >= len(s.b) || s.b[s.i] != ',' {
			return errJSON
		}
		s.i++
	}
}

// array reads the elements of an array whose '[' has been consumed.
func (s *scanner) array(depth int) error {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		if s.i >= len(s.b) || s.b[s.i] != ',' {
			return errJSON
		}
		s.i++
	}
}

// literal reads true, false or null. What follows is checked by the
// caller: a member or element separator, or the end.
func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return errJSON
	}
	s.i += len(lit)
	return nil
}

// number reads an RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)?
// ([eE] [+-]? [0-9]+)?. A leading zero followed by a digit ends the number
// at the zero, and the caller then refuses the digit.
func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return errJSON
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return errJSON
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return errJSON
		}
	}
	return nil
}

// digits consumes a run of decimal digits and returns its length.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
