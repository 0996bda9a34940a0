package catalog

import "slices"

// Recommended are the categories people find first in the catalog. Any
// other category is accepted (Template's spec.category is free text);
// `streamspace validate` warns about one outside this list so that a typo
// ("Web Browser") stands out. The web UI offers the same list
// (portal/web/src/features/admin/templates/templateSpec.ts; a test keeps
// them equal).
var Recommended = []string{
	"Web Browsers",
	"Development",
	"Office",
	"Graphics",
	"3D",
	"Media",
	"Utilities",
	"Desktops",
	"Communication",
	"Education",
	"Science",
	"Games",
}

// IsRecommended says whether category is one of Recommended.
func IsRecommended(category string) bool { return slices.Contains(Recommended, category) }
