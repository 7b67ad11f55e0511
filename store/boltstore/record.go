package boltstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Stored records. A record is written in the binary form below
// (recordBinary, first byte 2); records written before it are JSON
// objects (diskRecord, first byte '{'), which are still read and are
// rewritten in the binary form the next time they change. A reader
// refuses a form or version it does not know rather than guess.
//
// Why binary: a refresh reads, decodes, re-encodes and writes its record
// inside the shared write transaction, and encoding/json (six RFC 3339
// times, three base64 hashes, reflection) cost some 15 µs of CPU a
// refresh, most of what sessiond did there beyond bbolt itself
// (BENCHMARKS.md, "Refresh over HTTP"); the binary form costs about 1 µs.
const (
	recordVersion = 1 // the V field of a JSON record
	recordBinary  = 2 // the first byte of a binary record
)

// errEncode: a record that cannot be encoded (its Data is not valid JSON).
// That is the caller's fault, not the store's, so it is not ErrStore.
var errEncode = errors.New("record cannot be encoded")

// diskRecord is the JSON form of session.Record, written by sessiond
// before the binary form and still read. Its short JSON names are fixed
// here so that renaming a Go field cannot silently break stored data; the
// id is the bucket key and is not repeated.
type diskRecord struct {
	V               int                        `json:"v"`
	UserID          string                     `json:"u"`
	CreatedAt       time.Time                  `json:"c"`
	LastSeenAt      time.Time                  `json:"l"`
	IdleExpiresAt   time.Time                  `json:"ie"`
	AbsExpiresAt    time.Time                  `json:"ae"`
	IP              string                     `json:"ip,omitempty"`
	UserAgent       string                     `json:"ua,omitempty"`
	AuthMethod      string                     `json:"am,omitempty"`
	RefreshHash     []byte                     `json:"rh,omitempty"`
	PrevRefreshHash []byte                     `json:"ph,omitempty"`
	NextRefreshHash []byte                     `json:"nh,omitempty"` // absent in records written before it existed
	RotatedAt       time.Time                  `json:"ra,omitzero"`
	Reissued        bool                       `json:"ri,omitempty"`
	PrevReissued    bool                       `json:"pi,omitempty"`
	ClientID        string                     `json:"ci,omitempty"`
	AuthTime        time.Time                  `json:"at,omitzero"`
	AMR             []string                   `json:"amr,omitempty"`
	Claims          map[string]json.RawMessage `json:"cl,omitempty"`
	Data            map[string]json.RawMessage `json:"d,omitempty"`
	Version         uint64                     `json:"n"`
}

// Flags of a binary record.
const (
	flagReissued     = 1 << 0
	flagPrevReissued = 1 << 1
)

// encodeRecord returns r in the binary form: the byte recordBinary, then
// in this order, with strings and byte strings as a uvarint length and
// the bytes, times as a varint of Unix seconds and a uvarint of
// nanoseconds (UTC; the zero Time is year 1 and comes back as the zero
// Time), and counts as uvarints:
//
//	UserID, CreatedAt, LastSeenAt, IdleExpiresAt, AbsExpiresAt,
//	RotatedAt, AuthTime, IP, UserAgent, AuthMethod, ClientID,
//	RefreshHash, PrevRefreshHash, NextRefreshHash, flags (one byte),
//	len(AMR) and each, len(Claims) and each name and JSON value,
//	len(Data) and the same, Version.
//
// Claims and Data are written in name order, compacted, so equal records
// encode to equal bytes; a value that is not valid JSON is errEncode.
func encodeRecord(r *session.Record) ([]byte, error) {
	n := 1 + 8*10 + 2*10 + len(r.UserID) + len(r.IP) + len(r.UserAgent) + len(r.AuthMethod) + len(r.ClientID) +
		len(r.RefreshHash) + len(r.PrevRefreshHash) + len(r.NextRefreshHash) + 16
	for _, a := range r.AMR {
		n += len(a) + 2
	}
	for k, v := range r.Claims {
		n += len(k) + len(v) + 4
	}
	for k, v := range r.Data {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, recordBinary)
	b = appendString(b, r.UserID)
	for _, t := range [...]time.Time{r.CreatedAt, r.LastSeenAt, r.IdleExpiresAt, r.AbsExpiresAt, r.RotatedAt, r.AuthTime} {
		if t.Unix() < minUnix || t.Unix() > maxUnix {
			return nil, fmt.Errorf("%w: time %v is outside years 1 to 9999", errEncode, t)
		}
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	b = appendString(b, r.IP)
	b = appendString(b, r.UserAgent)
	b = appendString(b, r.AuthMethod)
	b = appendString(b, r.ClientID)
	b = appendBytes(b, r.RefreshHash)
	b = appendBytes(b, r.PrevRefreshHash)
	b = appendBytes(b, r.NextRefreshHash)
	var flags byte
	if r.RefreshReissued {
		flags |= flagReissued
	}
	if r.PrevRefreshReissued {
		flags |= flagPrevReissued
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(r.AMR)))
	for _, a := range r.AMR {
		b = appendString(b, a)
	}
	var err error
	if b, err = appendJSONMap(b, "claims", r.Claims); err != nil {
		return nil, err
	}
	if b, err = appendJSONMap(b, "app data", r.Data); err != nil {
		return nil, err
	}
	return binary.AppendUvarint(b, r.Version), nil
}

// The range of a stored time, years 1 to 9999 (what the JSON form could
// carry; the zero Time is the first second of it).
var (
	minUnix = time.Time{}.Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendJSONMap appends m's size and its entries in name order, each
// value compacted (encoding/json did the same when records were JSON).
func appendJSONMap(b []byte, what string, m map[string]json.RawMessage) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(m)))
	if len(m) == 0 {
		return b, nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	for _, k := range names {
		buf.Reset()
		v := m[k]
		if v == nil {
			v = json.RawMessage("null") // as encoding/json wrote a nil RawMessage
		}
		if err := json.Compact(&buf, v); err != nil {
			return nil, fmt.Errorf("%w: %s %q: %w", errEncode, what, k, err)
		}
		b = appendString(b, k)
		b = appendString(b, buf.String())
	}
	return b, nil
}

// errCorrupt is the error of a stored record that does not parse.
func errCorrupt(why string) error {
	return fmt.Errorf("%w: corrupt session record: %s", session.ErrStore, why)
}

// decodeRecord decodes a stored record, binary or JSON. It copies out of
// v, which bbolt owns and which is valid only inside the transaction.
func decodeRecord(id string, v []byte) (*session.Record, error) {
	switch {
	case len(v) == 0:
		return nil, errCorrupt("empty")
	case v[0] == recordBinary:
		return decodeBinary(id, v[1:])
	case v[0] == '{':
		return decodeJSON(id, v)
	}
	return nil, fmt.Errorf("%w: session record has unknown encoding %#x", session.ErrStore, v[0])
}

// recordReader reads the fields of a binary record; the first error
// sticks, and every later read returns zero values.
type recordReader struct {
	b   []byte
	err error
}

func (d *recordReader) fail(why string) {
	if d.err == nil {
		d.err = errCorrupt(why)
	}
	d.b = nil
}

func (d *recordReader) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad length or number")
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *recordReader) varint() int64 {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return x
}

// raw returns the next length-prefixed field, still in bbolt's memory.
func (d *recordReader) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("field runs past the end")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *recordReader) string() string { return string(d.raw()) }

// bytes is raw copied, nil when empty (as the JSON form decoded it).
func (d *recordReader) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return bytes.Clone(v)
}

func (d *recordReader) time() time.Time {
	sec, ns := d.varint(), d.uvarint()
	if ns >= 1e9 || sec < minUnix || sec > maxUnix {
		d.fail("bad time")
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

// count reads a number of entries, each at least min bytes long, so that
// a damaged count cannot make the reader allocate past the record.
func (d *recordReader) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("count runs past the end")
		return 0
	}
	return int(n)
}

func (d *recordReader) jsonMap() map[string]json.RawMessage {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]json.RawMessage, n)
	prev := ""
	for i := range n {
		k := d.string()
		v := d.bytes()
		if d.err != nil {
			return nil
		}
		if i > 0 && k <= prev {
			// Written in name order, each name once: anything else is
			// damage, and a repeated name would silently drop a value.
			d.fail("JSON value names out of order or repeated")
			return nil
		}
		prev = k
		if !json.Valid(v) {
			d.fail("a JSON value is not valid JSON")
			return nil
		}
		m[k] = v
	}
	return m
}

func decodeBinary(id string, v []byte) (*session.Record, error) {
	d := recordReader{b: v}
	r := &session.Record{ID: id, UserID: d.string()}
	r.CreatedAt = d.time()
	r.LastSeenAt = d.time()
	r.IdleExpiresAt = d.time()
	r.AbsExpiresAt = d.time()
	r.RotatedAt = d.time()
	r.AuthTime = d.time()
	r.IP = d.string()
	r.UserAgent = d.string()
	r.AuthMethod = d.string()
	r.ClientID = d.string()
	r.RefreshHash = d.bytes()
	r.PrevRefreshHash = d.bytes()
	r.NextRefreshHash = d.bytes()
	if len(d.b) == 0 {
		d.fail("no flags")
	} else {
		flags := d.b[0]
		d.b = d.b[1:]
		if flags&^(flagReissued|flagPrevReissued) != 0 {
			d.fail("unknown flags")
		}
		r.RefreshReissued = flags&flagReissued != 0
		r.PrevRefreshReissued = flags&flagPrevReissued != 0
	}
	if n := d.count(1); n > 0 {
		r.AMR = make([]string, n)
		for i := range r.AMR {
			r.AMR[i] = d.string()
		}
	}
	r.Claims = d.jsonMap()
	r.Data = d.jsonMap()
	r.Version = d.uvarint()
	if d.err == nil && len(d.b) > 0 {
		d.fail("bytes after the last field")
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// decodeJSON decodes a record in the JSON form, its times in UTC as the
// binary form gives them.
func decodeJSON(id string, v []byte) (*session.Record, error) {
	var d diskRecord
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, fmt.Errorf("%w: corrupt session record: %w", session.ErrStore, err)
	}
	if d.V != recordVersion {
		return nil, fmt.Errorf("%w: session record has unknown encoding version %d", session.ErrStore, d.V)
	}
	return &session.Record{
		ID:                  id,
		UserID:              d.UserID,
		CreatedAt:           d.CreatedAt.UTC(),
		LastSeenAt:          d.LastSeenAt.UTC(),
		IdleExpiresAt:       d.IdleExpiresAt.UTC(),
		AbsExpiresAt:        d.AbsExpiresAt.UTC(),
		IP:                  d.IP,
		UserAgent:           d.UserAgent,
		AuthMethod:          d.AuthMethod,
		RefreshHash:         d.RefreshHash,
		PrevRefreshHash:     d.PrevRefreshHash,
		NextRefreshHash:     d.NextRefreshHash,
		RotatedAt:           d.RotatedAt.UTC(),
		RefreshReissued:     d.Reissued,
		PrevRefreshReissued: d.PrevReissued,
		ClientID:            d.ClientID,
		AuthTime:            d.AuthTime.UTC(),
		AMR:                 d.AMR,
		Claims:              d.Claims,
		Data:                d.Data,
		Version:             d.Version,
	}, nil
}

func userKey(userID, id string) []byte {
	k := make([]byte, 0, len(userID)+1+len(id))
	k = append(k, userID...)
	k = append(k, 0)
	return append(k, id...)
}

// expiryKey is the sessions_by_expiry key of r: when it dies, then its id.
func expiryKey(r *session.Record) []byte {
	return append(timeKey(r.ExpiresAt()), r.ID...)
}

var maxNanoTime = time.Unix(0, math.MaxInt64)

// timeKey encodes t as 8 big-endian bytes of Unix nanoseconds, so byte
// order is time order. Times outside 1970..2262 (the zero Time among them)
// are clamped to the ends of that range.
func timeKey(t time.Time) []byte {
	var n uint64
	switch {
	case t.Before(time.Unix(0, 0)):
		n = 0
	case t.After(maxNanoTime):
		n = math.MaxInt64
	default:
		n = uint64(t.UnixNano())
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8+22), n)
}

func encodeTime(t time.Time) []byte { return timeKey(t) }

func decodeTime(v []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
}

// sortOldestFirst orders records by CreatedAt, then by id so the order is
// total.
func sortOldestFirst(rs []*session.Record) {
	slices.SortFunc(rs, func(a, b *session.Record) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
