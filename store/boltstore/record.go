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

// recordVersion is the encoding version written into every stored record.
// A reader refuses versions it does not know rather than guess.
const recordVersion = 1

// errEncode: a record that cannot be encoded (its Data is not valid JSON).
// That is the caller's fault, not the store's, so it is not ErrStore.
var errEncode = errors.New("record cannot be encoded")

// diskRecord is the stored form of session.Record. Its short JSON names
// are fixed here so that renaming a Go field cannot silently break stored
// data; the id is the bucket key and is not repeated.
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

func encodeRecord(r *session.Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the application's data as it gave it
	err := enc.Encode(diskRecord{
		V:               recordVersion,
		UserID:          r.UserID,
		CreatedAt:       r.CreatedAt,
		LastSeenAt:      r.LastSeenAt,
		IdleExpiresAt:   r.IdleExpiresAt,
		AbsExpiresAt:    r.AbsExpiresAt,
		IP:              r.IP,
		UserAgent:       r.UserAgent,
		AuthMethod:      r.AuthMethod,
		RefreshHash:     r.RefreshHash,
		PrevRefreshHash: r.PrevRefreshHash,
		NextRefreshHash: r.NextRefreshHash,
		RotatedAt:       r.RotatedAt,
		Reissued:        r.RefreshReissued,
		PrevReissued:    r.PrevRefreshReissued,
		ClientID:        r.ClientID,
		AuthTime:        r.AuthTime,
		AMR:             r.AMR,
		Claims:          r.Claims,
		Data:            r.Data,
		Version:         r.Version,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEncode, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeRecord decodes a stored record. It copies out of v, which bbolt
// owns and which is valid only inside the transaction.
func decodeRecord(id string, v []byte) (*session.Record, error) {
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
		CreatedAt:           d.CreatedAt,
		LastSeenAt:          d.LastSeenAt,
		IdleExpiresAt:       d.IdleExpiresAt,
		AbsExpiresAt:        d.AbsExpiresAt,
		IP:                  d.IP,
		UserAgent:           d.UserAgent,
		AuthMethod:          d.AuthMethod,
		RefreshHash:         d.RefreshHash,
		PrevRefreshHash:     d.PrevRefreshHash,
		NextRefreshHash:     d.NextRefreshHash,
		RotatedAt:           d.RotatedAt,
		RefreshReissued:     d.Reissued,
		PrevRefreshReissued: d.PrevReissued,
		ClientID:            d.ClientID,
		AuthTime:            d.AuthTime,
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
