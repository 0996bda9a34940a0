package gitsync

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

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

func TestSetDrift_keepsOpenDriftAndNewestCorrected(t *testing.T) {
	gs := &streamv1.GitSync{}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 150; i++ {
		setDrift(gs, fmt.Sprintf("id-%03d", i), &streamv1.DriftedObject{
			ID: fmt.Sprintf("id-%03d", i), Corrected: i%15 != 0, DetectedAt: metav1.NewTime(base.Add(time.Duration(i) * time.Minute)),
		})
	}
	if len(gs.Status.Drift) != maxDriftRecords {
		t.Fatalf("kept %d records, want %d", len(gs.Status.Drift), maxDriftRecords)
	}
	open, newest := 0, false
	for _, d := range gs.Status.Drift {
		if !d.Corrected {
			open++
		}
		newest = newest || d.ID == "id-149"
	}
	if open != 10 || !newest {
		t.Errorf("open drift kept: %d of 10; newest corrected kept: %v", open, newest)
	}
}
