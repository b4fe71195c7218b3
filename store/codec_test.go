package store

import (
	"bytes"
	"testing"
)

// FuzzDecodeValue feeds stored-value encodings, whole and split at a random
// point: decodeValue must never panic, and every Record must round-trip.
func FuzzDecodeValue(f *testing.F) {
	for _, r := range []Record{
		{Version: 0, Data: []byte(`{}`)},
		{Version: 1, Data: []byte(`{"a":[1,2]}`)},
		{Version: -1, Data: nil},
		{Version: 1 << 62, Data: []byte(`["x"]`)},
	} {
		v := make([]byte, valueLen(r))
		encodeValue(v, r)
		f.Add(v, uint8(1))
	}
	f.Fuzz(func(t *testing.T, v []byte, cut uint8) {
		k := int(cut) % (len(v) + 1)
		for _, in := range [][]byte{v, v[:k], v[k:]} {
			r, err := decodeValue(in)
			if err != nil {
				continue
			}
			enc := make([]byte, valueLen(r))
			encodeValue(enc, r)
			back, err := decodeValue(enc)
			if err != nil || back.Version != r.Version || !bytes.Equal(back.Data, r.Data) {
				t.Fatalf("round trip of %+v: %+v %v", r, back, err)
			}
		}
		// Any Record encodes and decodes exactly.
		r := Record{Version: int64(len(v)) - 128, Data: v}
		enc := make([]byte, valueLen(r))
		encodeValue(enc, r)
		back, err := decodeValue(enc)
		if err != nil || back.Version != r.Version || !bytes.Equal(back.Data, r.Data) {
			t.Fatalf("round trip of %+v: %+v %v", r, back, err)
		}
	})
}
