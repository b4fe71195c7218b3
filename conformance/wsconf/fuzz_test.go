package wsconf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// serverFrame builds an unmasked frame as a server would send it.
func serverFrame(fin bool, op uint8, p []byte) []byte {
	f := Frame{Fin: fin, Opcode: op, Payload: p, NoMask: true}
	return AppendFrame(nil, f)
}

// chunkReader returns its data in reads of the sizes in splits (cycled), the way TCP may deliver it.
type chunkReader struct {
	data   []byte
	splits []byte
	i      int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.splits) > 0 {
		n = int(r.splits[r.i%len(r.splits)])%17 + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzReadServerFrame feeds the strict server-frame reader with valid frame streams split at random
// points, and with arbitrary bytes: it must never panic, must decode valid streams the same whatever the
// split, and must reject what it reports as bad.
func FuzzReadServerFrame(f *testing.F) {
	valid := bytes.Join([][]byte{
		serverFrame(true, OpText, []byte("hello")),
		serverFrame(false, OpBinary, binPayload(300)),
		serverFrame(true, OpContinuation, binPayload(70000)),
		serverFrame(true, OpPong, []byte("p")),
		serverFrame(true, OpClose, ClosePayload(1000, "bye")),
	}, nil)
	f.Add(valid, []byte{1, 2, 3})
	f.Add(serverFrame(true, OpClose, nil), []byte{0})
	f.Add(AppendFrame(nil, text("masked")), []byte{5})
	f.Add([]byte{0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 5}, []byte{1})
	f.Add(serverFrame(true, OpClose, []byte{0x03}), []byte{2})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		whole := decodeAll(t, bytes.NewReader(data))
		chunked := decodeAll(t, &chunkReader{data: data, splits: splits})
		if len(whole) != len(chunked) {
			t.Fatalf("%d frames whole, %d split", len(whole), len(chunked))
		}
		for i := range whole {
			if whole[i].Opcode != chunked[i].Opcode || whole[i].Fin != chunked[i].Fin || !bytes.Equal(whole[i].Payload, chunked[i].Payload) {
				t.Fatalf("frame %d differs when split", i)
			}
		}
	})
}

func decodeAll(t *testing.T, r io.Reader) []ServerFrame {
	var out []ServerFrame
	for {
		fr, err := ReadServerFrame(r, nil)
		if err != nil {
			if errors.Is(err, ErrMaskedServerFrame) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
				errors.Is(err, ErrServerRsv) || errors.Is(err, ErrServerOpcode) || errors.Is(err, ErrServerControl) ||
				errors.Is(err, ErrServerLength) || errors.Is(err, ErrServerClose) {
				return out
			}
			t.Fatalf("unexpected error %v", err)
		}
		if fr.Opcode >= OpClose && len(fr.Payload) > 125 {
			t.Fatalf("accepted a %d-byte control frame", len(fr.Payload))
		}
		out = append(out, ServerFrame{Fin: fr.Fin, Opcode: fr.Opcode, Payload: bytes.Clone(fr.Payload)})
	}
}

// TestAppendFrameEncodings checks the writer's header encodings byte by byte, legal and illegal.
func TestAppendFrameEncodings(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	cases := []struct {
		name string
		f    Frame
		hdr  []byte
	}{
		{"7-bit", Frame{Fin: true, Opcode: OpText, Payload: payload(5), MaskKey: key}, []byte{0x81, 0x85}},
		{"16-bit", Frame{Fin: true, Opcode: OpBinary, Payload: payload(126), MaskKey: key}, []byte{0x82, 0xfe, 0, 126}},
		{"64-bit", Frame{Opcode: OpBinary, Payload: payload(65536), MaskKey: key}, []byte{0x02, 0xff, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"non-minimal 16", Frame{Fin: true, Opcode: OpText, Payload: payload(5), Len: Len16, MaskKey: key}, []byte{0x81, 0xfe, 0, 5}},
		{"non-minimal 64", Frame{Fin: true, Opcode: OpText, Payload: payload(5), Len: Len64, MaskKey: key}, []byte{0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 5}},
		{"rsv and opcode", Frame{Rsv: 7, Opcode: 0xF, NoMask: true}, []byte{0x7f, 0x00}},
		{"msb length", Frame{Fin: true, Opcode: OpBinary, DeclaredLen: 1<<63 | 5, NoMask: true}, []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 5}},
	}
	for _, c := range cases {
		got := AppendFrame(nil, c.f)
		if !bytes.HasPrefix(got, c.hdr) {
			t.Errorf("%s: header % x, want % x", c.name, got[:min(len(got), len(c.hdr))], c.hdr)
			continue
		}
		rest := got[len(c.hdr):]
		if c.f.NoMask {
			if !bytes.Equal(rest, c.f.Payload) {
				t.Errorf("%s: unmasked payload changed", c.name)
			}
			continue
		}
		if !bytes.Equal(rest[:4], key[:]) {
			t.Errorf("%s: mask key % x", c.name, rest[:4])
		}
		body := rest[4:]
		for i := range body {
			body[i] ^= key[i&3]
		}
		if !bytes.Equal(body, c.f.Payload) {
			t.Errorf("%s: payload does not unmask to the original", c.name)
		}
	}
	// The strict reader rejects a non-minimal length from a server.
	bad := binary.BigEndian.AppendUint16([]byte{0x81, 126}, 5)
	bad = append(bad, "hello"...)
	if _, err := ReadServerFrame(bytes.NewReader(bad), nil); !errors.Is(err, ErrServerLength) {
		t.Errorf("non-minimal server length: %v", err)
	}
}
