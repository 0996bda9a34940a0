package catalog

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// The UI offers the same recommended categories as validate checks.
func TestRecommended_isTheUIsList(t *testing.T) {
	data, err := os.ReadFile("../portal/web/src/features/admin/templates/templateSpec.ts")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)export const categories = \[(.*?)\];`).FindSubmatch(data)
	if block == nil {
		t.Fatal("templateSpec.ts no longer exports `categories = [...]`")
	}
	var ui []string
	for _, m := range regexp.MustCompile(`'([^']*)'`).FindAllSubmatch(block[1], -1) {
		ui = append(ui, string(m[1]))
	}
	if !slices.Equal(ui, Recommended) {
		t.Errorf("the UI recommends %q, validate %q", ui, Recommended)
	}
}
