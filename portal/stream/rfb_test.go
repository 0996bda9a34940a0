package stream

import "testing"

func TestRFBInput_onlyKeysPointerAndClipboardAreInput(t *testing.T) {
	p := &rfbInput{}
	steps := []struct {
		name  string
		bytes []byte
		input bool
	}{
		{"version", []byte("RFB 003.008\n"), false},
		{"security None", []byte{1}, false},
		{"ClientInit", []byte{1}, false},
		{"SetEncodings", []byte{2, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0}, false},
		{"SetPixelFormat", append([]byte{0}, make([]byte, 19)...), false},
		{"FramebufferUpdateRequest", []byte{3, 1, 0, 0, 0, 0, 2, 128, 1, 224}, false},
		{"half a KeyEvent", []byte{4, 1, 0, 0}, false},
		{"rest of the KeyEvent", []byte{0, 0, 0, 0x61}, true},
		{"update request and pointer in one frame", []byte{3, 1, 0, 0, 0, 0, 2, 128, 1, 224, 5, 0, 0, 10, 0, 20}, true},
		{"ClientCutText", []byte{6, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'}, true},
		{"another update request", []byte{3, 1, 0, 0, 0, 0, 2, 128, 1, 224}, false},
	}
	for _, s := range steps {
		if got := p.Write(s.bytes); got != s.input {
			t.Errorf("%s: input %v, want %v", s.name, got, s.input)
		}
	}
	if p.Write([]byte{200, 1, 2, 3}) != true {
		t.Error("an unknown message must make every frame count (never hibernate a working user)")
	}
	if p.Write([]byte{3, 1, 0, 0, 0, 0, 2, 128, 1, 224}) != true {
		t.Error("once lost, the parser must keep counting every frame")
	}
}
