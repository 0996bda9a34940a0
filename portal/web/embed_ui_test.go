//go:build ui

package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/portal/web"
)

// Built with the "ui" tag, the portal serves the app that make ui built.
func TestHandler_withTheUITag_servesTheBuiltApp(t *testing.T) {
	rec := get(t, web.Handler(), http.MethodGet, "/dashboard")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `<div id="root">`) {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
}
