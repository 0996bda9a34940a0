package gitsync

import "testing"

func TestNormalizeRepoURL_sameRepoFormsMatch(t *testing.T) {
	want := "github.com/acme/platform"
	for _, u := range []string{
		"https://github.com/acme/platform", "https://github.com/acme/platform.git", "https://GitHub.com/acme/platform/",
		"ssh://git@github.com/acme/platform.git", "git@github.com:acme/platform.git", "git://github.com/acme/platform.git",
		"ssh://git@github.com:22/acme/platform.git",
	} {
		if got := normalizeRepoURL(u); got != want {
			t.Errorf("normalizeRepoURL(%q) = %q, want %q", u, got, want)
		}
	}
	if normalizeRepoURL("https://github.com/acme/other") == want {
		t.Error("another repository matched")
	}
}
