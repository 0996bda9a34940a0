//go:build !ui

package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/portal/web"
)

// Built without the "ui" tag, the portal says how to build the UI in.
func TestHandler_withoutTheUITag_explainsHowToBuildIt(t *testing.T) {
	rec := get(t, web.Handler(), http.MethodGet, "/dashboard")
	if !strings.Contains(rec.Body.String(), "make build") {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
}
