package stream

import (
	"testing"
)

// The fuzz tests feed arbitrary bytes, cut into arbitrary frames, through
// the filters: they must never panic, never hold more than their bounds,
// and never pass more than they were given (a filter only drops, or
// shortens a SetEncodings).

const fuzzClipboard = 4096

// frames cuts data into frames at the lengths the cuts bytes say.
func frames(data, cuts []byte) [][]byte {
	var out [][]byte
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(cuts) > 0 {
			n = min(n, int(cuts[i%len(cuts)])+1)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

func checkFramer(t *testing.T, f *framer) {
	t.Helper()
	if len(f.head) > maxHead {
		t.Fatalf("holds a head of %d bytes, over %d", len(f.head), maxHead)
	}
	if len(f.held) > fuzzClipboard+12 {
		t.Fatalf("holds %d bytes, over the clipboard limit", len(f.held))
	}
}

func FuzzRFBClient(f *testing.F) {
	hs := []byte("RFB 003.008\n\x01\x01")
	f.Add(append(hs, clientCutText("hello")...), []byte{3}, false)
	f.Add(append(hs, extendedProvide(6, []byte("hello"))...), []byte{7, 1}, true)
	f.Add(append(hs, 2, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 21), []byte{}, false)
	f.Add(append(hs, 180, 1, 3, 'a', '/', 'b', 0, 0, 0, 1, 'x'), []byte{0}, true)
	f.Fuzz(func(t *testing.T, data, cuts []byte, kasm bool) {
		d := dialectRFB
		if kasm {
			d = dialectKasmVNC
		}
		for _, p := range []Policy{{ClipboardIn: true, MaxClipboard: fuzzClipboard}, {MaxClipboard: fuzzClipboard}} {
			fl, _ := newRFBFilters(d, p, &refusals{})
			c := fl.(*rfbClient)
			for _, fr := range frames(data, cuts) {
				out, _, err := c.filter(nil, fr, true, true)
				checkFramer(t, &c.framer)
				if err != nil {
					break
				}
				if len(out) > len(fr)+len(c.held)+fuzzClipboard+12 {
					t.Fatalf("passed %d bytes of a %d-byte frame", len(out), len(fr))
				}
			}
		}
	})
}

func FuzzRFBServer(f *testing.F) {
	f.Add([]byte("RFB 003.008\n\x01\x01\x00\x00\x00\x00"), append(serverInit, serverCutText("copied")...), []byte{5})
	f.Add([]byte("RFB 003.008\n\x01\x01\x00\x00\x00\x00"), cat(serverInit, []byte{0, 0, 0, 1}, rect(4, 2, 7), []byte{0x40, 1, 1, 5, 5, 5, 6, 6, 6, 0xAA, 0x55}), []byte{2, 9})
	f.Fuzz(func(t *testing.T, fromServer, rest, cuts []byte) {
		c, v := newRFBFilters(dialectRFB, Policy{MaxClipboard: fuzzClipboard}, &refusals{})
		if _, _, err := c.filter(nil, []byte("RFB 003.008\n\x01\x01"), true, true); err != nil {
			t.Fatal(err)
		}
		s := v.(*rfbServer)
		for _, fr := range frames(append(fromServer, rest...), cuts) {
			out, _, err := s.filter(nil, fr, true, true)
			checkFramer(t, &s.framer)
			if err != nil {
				break
			}
			if len(out) > len(fr)+fuzzClipboard+12 {
				t.Fatalf("passed %d bytes of a %d-byte frame", len(out), len(fr))
			}
		}
	})
}

func FuzzSelkies(f *testing.F) {
	f.Add([]byte("cw,aGVsbG8="), []byte{}, true)
	f.Add([]byte("kd,65"), []byte{1}, true)
	f.Add(gz("clipboard,aGk="), []byte{3}, false)
	f.Add([]byte{0x01, 1, 2, 3}, []byte{}, false)
	f.Fuzz(func(t *testing.T, msg, cuts []byte, toSession bool) {
		in, out := newSelkiesFilters(Policy{MaxClipboard: fuzzClipboard}, &refusals{})
		fl := out.(*selkiesFilter)
		if toSession {
			fl = in.(*selkiesFilter)
		}
		parts := frames(msg, cuts)
		if len(parts) == 0 {
			parts = [][]byte{{}}
		}
		passed := 0
		for i, p := range parts {
			o, _, err := fl.filter(nil, p, i == 0, i == len(parts)-1)
			if len(fl.held) > selkiesMaxMessage {
				t.Fatalf("holds %d bytes", len(fl.held))
			}
			if err != nil {
				return
			}
			passed += len(o)
		}
		if passed != 0 && passed != len(msg) {
			t.Fatalf("passed %d bytes of a %d-byte message: a message passes whole or not at all", passed, len(msg))
		}
	})
}
