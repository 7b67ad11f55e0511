package redisstore

import "strings"

// fUserAgentPacked holds a user agent packed by packUserAgent (chunked like
// every long value, see appendChunked). A record has it or fUserAgent, the
// user agent as it came, never both.
const fUserAgentPacked = "G"

// uaTokens are the substrings that browsers' user agents are made of. A
// packed user agent stores each as one byte, its index here plus one
// (0x01 to 0x1F), so that a typical 120-character browser user agent
// takes some 20 bytes: short enough for one field of Redis's compact
// listpack encoding instead of two, and some 110 bytes less per session.
// (A general compressor does far worse on one short string, and costs
// allocations on every read; this is a table lookup.)
//
// The table is part of the stored format: records written with it are
// read with it. Never change or reorder an entry; there is no room to
// add one (codes stop at 0x1F).
var uaTokens = [...]string{
	"Mozilla/5.0 (",
	"Windows NT 10.0; Win64; x64",
	"Macintosh; Intel Mac OS X 10_15_7",
	"X11; Linux x86_64",
	") AppleWebKit/537.36 (KHTML, like Gecko) ",
	") AppleWebKit/605.1.15 (KHTML, like Gecko) ",
	"Chrome/",
	" Safari/537.36",
	" Mobile Safari/537.36",
	" Safari/605.1.15",
	" Mobile/15E148 Safari/604.1",
	"Version/",
	" Edg/",
	") Gecko/20100101 Firefox/",
	"; rv:",
	"iPhone; CPU iPhone OS ",
	" like Mac OS X",
	"Linux; Android ",
	"; K",
	".0.0.0",
	" OPR/",
	"CriOS/",
	"FxiOS/",
	"iPad; CPU OS ",
	"X11; Ubuntu; Linux x86_64",
	"SamsungBrowser/",
	" YaBrowser/",
	"Windows NT 6.1; Win64; x64",
	"Macintosh; Intel Mac OS X ",
	" (KHTML, like Gecko)",
	"Mobile",
}

// uaByFirst lists, for each first byte, the indexes in uaTokens of the
// tokens that start with it, longest first.
var uaByFirst = func() (m [256][]uint8) {
	for i, t := range uaTokens {
		m[t[0]] = append(m[t[0]], uint8(i))
	}
	for _, l := range m {
		for i := 1; i < len(l); i++ {
			for j := i; j > 0 && len(uaTokens[l[j]]) > len(uaTokens[l[j-1]]); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	return m
}()

// packUserAgent returns ua with the longest token of uaTokens at each
// place replaced by its code, and whether that is shorter than ua. A user
// agent holding a control byte (0x00 to 0x1F, or 0x7F) is never packed,
// so a code in a packed one always means its token.
func packUserAgent(ua string) (string, bool) {
	for i := 0; i < len(ua); i++ {
		if ua[i] < 0x20 || ua[i] == 0x7f {
			return "", false
		}
	}
	var b strings.Builder
	b.Grow(len(ua) / 3)
	for i := 0; i < len(ua); {
		matched := false
		for _, t := range uaByFirst[ua[i]] {
			if strings.HasPrefix(ua[i:], uaTokens[t]) {
				b.WriteByte(t + 1)
				i += len(uaTokens[t])
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(ua[i])
			i++
		}
	}
	if b.Len() >= len(ua) {
		return "", false
	}
	return b.String(), true
}

// unpackUserAgent reverses packUserAgent.
func unpackUserAgent(p string) string {
	var b strings.Builder
	b.Grow(3 * len(p))
	for i := 0; i < len(p); i++ {
		if c := p[i]; c >= 1 && int(c) <= len(uaTokens) {
			b.WriteString(uaTokens[c-1])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
