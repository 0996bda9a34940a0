package stream

import (
	"testing"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// TestFiltersFor_protocols: a web client that speaks standard RFB (NoVNC)
// is read like the portal's own noVNC's stream — an open tab's update requests are
// no activity, a key is, and a refused paste is dropped — while KasmVNC is
// read in its own dialect (an 11-byte PointerEvent) and a protocol the
// proxy cannot read is not filtered (every frame counts).
func TestFiltersFor_protocols(t *testing.T) {
	stream := append(handshake, []step{
		{name: "an open tab's update request", in: updateRequest},
		{name: "a key", in: keyA, input: true},
		{name: "a refused paste is dropped (a person did paste)", in: clientCutText("secret"), input: true, out: []byte{}},
	}...)
	pointer := []byte{5, 0, 0, 10, 0, 20}
	for _, tc := range []struct {
		protocol streamv1.StreamProtocol
		steps    []step
	}{
		{streamv1.StreamWebsockifyVNC, append(stream, step{name: "a standard PointerEvent", in: pointer, input: true})},
		{streamv1.StreamNoVNC, append(stream, step{name: "a standard PointerEvent", in: pointer, input: true})},
		// KasmVNC's PointerEvent is 11 bytes: the 6 of a standard one are held
		{streamv1.StreamKasmVNC, append(stream, step{name: "6 bytes of a KasmVNC PointerEvent", in: pointer, out: []byte{}})},
	} {
		t.Run(string(tc.protocol), func(t *testing.T) {
			tpl := &streamv1.Template{Spec: streamv1.TemplateSpec{Stream: streamv1.StreamSpec{Protocol: tc.protocol}}}
			toSession, _ := filtersFor(tpl, closed, nil)
			if toSession == nil {
				t.Fatalf("%s is not read by the proxy", tc.protocol)
			}
			runSteps(t, toSession, tc.steps)
		})
	}
	if toSession, toBrowser := filtersFor(&streamv1.Template{}, closed, nil); toSession != nil || toBrowser != nil {
		t.Error("a protocol the proxy cannot read got a filter")
	}
}
