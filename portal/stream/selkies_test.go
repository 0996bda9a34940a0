package stream

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
	"testing"
)

// gz is a Selkies 0x05 frame: a text verb, gzip'd.
func gz(text string) []byte {
	var b bytes.Buffer
	b.WriteByte(0x05)
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(text))
	_ = zw.Close()
	return b.Bytes()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Messages as selkies-project/selkies' web client and server send them.
func TestSelkies_toSession_inputAndPolicy(t *testing.T) {
	var refused []Refusal
	in, _ := newSelkiesFilters(Policy{ClipboardOut: true, MaxClipboard: DefaultMaxClipboard}, &refusals{report: func(x Refusal) { refused = append(refused, x) }})
	none := []byte{}
	runSteps(t, in, []step{
		{name: "settings", in: []byte(`SETTINGS,{"framerate":60}`)},
		{name: "resize", in: []byte("r,1920x1080")},
		{name: "video ack", in: []byte("CLIENT_FRAME_ACK 42")},
		{name: "key reset on blur is no person", in: []byte("kr")},
		{name: "held-key heartbeat is no person", in: []byte("kh,65,66")},
		{name: "pong", in: []byte("pong,1.5")},
		{name: "key down", in: []byte("kd,65"), input: true},
		{name: "key up", in: []byte("ku,65"), input: true},
		{name: "mouse", in: []byte("m,100,200,1,0"), input: true},
		{name: "relative mouse", in: []byte("m2,3,-4,0,0"), input: true},
		{name: "composed text", in: []byte("co,end,héllo"), input: true},
		{name: "paste refused: dropped, still a person", in: []byte("cw," + b64("secret")), input: true, out: none},
		{name: "binary paste refused", in: []byte("cb,image/png," + b64("png")), input: true, out: none},
		{name: "multi-part paste refused", in: []byte("cws,7,12"), input: true, out: none},
		{name: "its chunk", in: []byte("cwd,7," + b64("abc")), input: true, out: none},
		{name: "its end", in: []byte("cwe,7"), input: true, out: none},
		{name: "gzip'd paste refused", in: gz("cw," + b64("big secret")), input: true, out: none},
		{name: "clipboard read, allowed out", in: []byte("cr")},
		{name: "file upload refused", in: []byte("FILE_UPLOAD_START:" + b64("a.txt") + ":3"), input: true, out: none},
		{name: "its chunk", in: []byte{0x01, 'a', 'b', 'c'}, input: true, out: none},
		{name: "its end", in: []byte("FILE_UPLOAD_END:" + b64("a.txt")), out: none},
		{name: "microphone refused with audio", in: []byte{0x02, 1, 2, 3}, out: none},
		{name: "gzip'd settings pass whole", in: gz(`SETTINGS,{"x":1}`)},
		{name: "multi-part paste declaring over the limit", in: []byte("cws,8,2000000"), err: "cws) of 2000000 bytes"},
	})
	want := map[Refusal]bool{{DirectionIn, KindClipboard}: true, {DirectionIn, KindFile}: true, {DirectionIn, KindAudio}: true}
	if len(refused) != len(want) {
		t.Errorf("reported %v, want each of %v once", refused, want)
	}
	for _, r := range refused {
		if !want[r] {
			t.Errorf("unexpected refusal %v", r)
		}
	}
}

func TestSelkies_toBrowser_clipboardAndAudioOut(t *testing.T) {
	_, out := newSelkiesFilters(Policy{ClipboardIn: true, MaxClipboard: DefaultMaxClipboard}, nil)
	none := []byte{}
	runSteps(t, out, []step{
		{name: "video stripe", in: []byte{0x03, 0, 1, 2}},
		{name: "h264 stripe", in: []byte{0x04, 1, 2, 3}},
		{name: "audio refused", in: []byte{0x01, 0, 9, 9}, out: none},
		{name: "cursor", in: []byte(`cursor,{"curdata":"x"}`)},
		{name: "clipboard refused", in: []byte("clipboard," + b64("copied")), out: none},
		{name: "binary clipboard refused", in: []byte("clipboard_binary,image/png," + b64("png")), out: none},
		{name: "multi-part clipboard refused", in: []byte("clipboard_start,text/plain,900000"), out: none},
		{name: "its data", in: []byte("clipboard_data," + b64("x")), out: none},
		{name: "its end", in: []byte("clipboard_finish"), out: none},
		{name: "gzip'd clipboard refused", in: gz("clipboard," + b64("copied")), out: none},
		{name: "gzip'd stats pass", in: gz(`system_stats,{"cpu":1}`)},
	})
}

func TestSelkies_messageOverTheClipboardBound_streamedInParts_endsTheStream(t *testing.T) {
	in, _ := newSelkiesFilters(Policy{ClipboardIn: true, MaxClipboard: 1000}, nil)
	first := []byte("cw," + strings.Repeat("A", 1000))
	out, input, err := in.filter(nil, first, true, false)
	if err != nil || !input || !bytes.Equal(out, first) {
		t.Fatalf("first part: %q %v %v", out, input, err)
	}
	if _, _, err = in.filter(nil, bytes.Repeat([]byte("A"), 5000), false, true); err == nil || !strings.Contains(err.Error(), "Selkies message of 6003 bytes") {
		t.Errorf("a paste growing past its bound: %v", err)
	}
}

func TestSelkies_gzipBomb_boundedWhenInflated(t *testing.T) {
	in, _ := newSelkiesFilters(Policy{ClipboardIn: true, MaxClipboard: DefaultMaxClipboard}, nil)
	bomb := gz("SETTINGS," + strings.Repeat("0", selkiesMaxMessage+10))
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes is not a bomb", len(bomb))
	}
	_, _, err := in.filter(nil, bomb, true, true)
	if err == nil || !strings.Contains(err.Error(), "inflated") {
		t.Errorf("gzip bomb: %v", err)
	}
}

func TestSelkiesHTTPRefusal_fileManagerFollowsThePolicy(t *testing.T) {
	for _, tc := range []struct {
		p       Policy
		path    string
		refused bool
		dir     Direction
	}{
		{Policy{}, "/api/upload", true, DirectionIn},
		{Policy{FileUpload: true}, "/api/upload", false, DirectionIn},
		{Policy{}, "/api/files/Desktop/report.pdf", true, DirectionOut},
		{Policy{FileDownload: true}, "/prefix/api/files/x", false, DirectionOut},
		{Policy{}, "/index.html", false, ""},
		{Policy{}, "/x/api/upload/", true, DirectionIn},
	} {
		r, refused := SelkiesHTTPRefusal(tc.p, tc.path)
		if refused != tc.refused || (tc.refused && (r.Direction != tc.dir || r.Kind != KindFile)) {
			t.Errorf("%+v %s: %v %v", tc.p, tc.path, r, refused)
		}
	}
}
