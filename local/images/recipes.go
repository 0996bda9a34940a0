package images

import (
	"os"
	"slices"
	"strconv"
)

// DefaultVersion is the tag of the images; environments/local's templates
// name it. Bump it when an image changes in a way sessions should notice.
const DefaultVersion = "0.1.0"

// defaultEpoch is every file's timestamp unless SOURCE_DATE_EPOCH says
// otherwise: 2025-05-20T00:00:00Z.
const defaultEpoch = 1747699200

// suite is the Debian release the images are built from.
const suite = "bookworm"

// User of the session: the controller runs session containers as uid 1000
// with fsGroup 1000 (agent/sessions/children.go) and mounts the user-home
// volume where the Template says; the templates in environments/local mount
// it here.
const (
	userName = "user"
	userID   = 1000
	homeDir  = "/home/user"
)

// The stream: websockify's port, the Template's stream.port.
const streamPort = 6080

// recipe is one session image.
type recipe struct {
	Name        string
	Title       string
	Description string
	// Packages are installed with apt, without recommends, on a debootstrap
	// minbase root file system.
	Packages []string
	// Cmd is the app that streamspace-session starts on the display.
	Cmd []string
	// Env is added to the image's environment.
	Env []string
	// Prune adds to pruneRules what this image does not need, but another
	// might.
	Prune []string
	// Files are the folders of files/ added on top of common/, in order
	// (a later one wins); empty: the recipe's name. An image that runs
	// another's app names that image's folder instead of copying it.
	Files []string
}

// overlays are the folders of files/ this image gets, common/ first.
func (r recipe) overlays() []string {
	if len(r.Files) == 0 {
		return []string{"common", r.Name}
	}
	return append([]string{"common"}, r.Files...)
}

// vncStack is what every image streams with. websockify needs
// python3-cffi-backend, which it only names as a virtual package.
var vncStack = []string{"tigervnc-standalone-server", "websockify", "python3-cffi-backend"}

// terminal is the light image's app: files/light's streamspace-app starts
// one xterm, in these fonts.
var terminal = []string{"xterm", "xfonts-base"}

// llvmOnly is what only LLVM (pruned with Mesa's drivers) and
// update-mime-database (run at install) use in these images: libxml2 and
// ICU's 35 MB. An image with an app that links them must not prune them.
var llvmOnly = []string{"usr/lib/x86_64-linux-gnu/libicu*", "usr/lib/x86_64-linux-gnu/libxml2.so*"}

// noVNCServerOnly is what Debian's novnc package pulls in that a pod
// serving noVNC's files never runs: Node.js (for noVNC's own scripts),
// the IEEE registries of python3-novnc's dependencies (OpenStack's proxy
// library, which websockify does not import), and noVNC's utils/, which
// websockify would otherwise serve as files.
var noVNCServerOnly = []string{
	"usr/bin/node", "usr/bin/nodejs", "usr/lib/x86_64-linux-gnu/libnode.so*", "usr/share/nodejs",
	"usr/share/ieee-data", "usr/share/novnc/utils",
}

var recipes = map[string]recipe{
	"light": {
		Name:        "light",
		Title:       "StreamSpace light session",
		Description: "A terminal (xterm) on a virtual display, streamed over VNC by websockify",
		Packages:    slices.Concat(vncStack, terminal),
		Cmd:         []string{"/usr/local/bin/streamspace-app"},
		Prune:       llvmOnly,
	},
	// webvnc is light whose pod also serves its own web client, as
	// KasmVNC and Selkies images do: Debian's noVNC, from websockify on the
	// stream port, beside the stream itself (files/webvnc's index.html
	// opens it).
	"webvnc": {
		Name:        "webvnc",
		Title:       "StreamSpace web-client session",
		Description: "A terminal (xterm) on a virtual display, with its own web client (noVNC) served by websockify beside the VNC stream",
		Packages:    slices.Concat(vncStack, terminal, []string{"novnc"}),
		Cmd:         []string{"/usr/local/bin/streamspace-app"},
		Env:         []string{"STREAMSPACE_WEB_CLIENT=/usr/share/novnc"},
		Prune:       slices.Concat(llvmOnly, noVNCServerOnly),
		Files:       []string{"light", "webvnc"},
	},
	"firefox": {
		Name:        "firefox",
		Title:       "StreamSpace Firefox session",
		Description: "Firefox ESR on a virtual display, streamed over VNC by websockify",
		Packages:    append(slices.Clone(vncStack), "xterm", "xfonts-base", "firefox-esr", "fonts-dejavu-core", "dbus-x11", "matchbox-window-manager"),
		Cmd:         []string{"/usr/local/bin/streamspace-app"},
		// matchbox maximizes every window (Firefox fills the screen, dialogs
		// float above it) and gives focus on click.
		Env:   []string{"STREAMSPACE_WINDOW_MANAGER=matchbox-window-manager -use_titlebar no"},
		Prune: llvmOnly,
	},
}

// Names are the images there are recipes for, in build order.
func Names() []string {
	return []string{"light", "webvnc", "firefox"}
}

// Options of a build.
type Options struct {
	// Out is the folder for the image tarballs and their descriptions.
	Out string
	// Cache is the folder for the cached root file systems and Debian
	// packages.
	Cache string
	// Version is the images' tag.
	Version string
	// Mirror is the Debian mirror; empty: the first one in /etc/apt/sources
	// that answers, else deb.debian.org.
	Mirror string
	// SecurityMirror is the Debian security mirror; empty: from
	// /etc/apt/sources, else deb.debian.org/debian-security; "none" skips
	// security updates.
	SecurityMirror string
	// Epoch is the timestamp of every file in the images.
	Epoch int64
	// Rebuild installs the packages again (newest updates) even when a
	// cached root file system exists; the debootstrap base is kept.
	Rebuild bool
}

// DefaultOptions are the defaults of a build writing into out: the shared
// cache, DefaultVersion, the mirrors of $DEBIAN_MIRROR and
// $DEBIAN_SECURITY_MIRROR, the epoch of $SOURCE_DATE_EPOCH.
func DefaultOptions(out string) Options {
	return Options{
		Out: out, Cache: DefaultCacheDir(), Version: DefaultVersion,
		Mirror: os.Getenv("DEBIAN_MIRROR"), SecurityMirror: os.Getenv("DEBIAN_SECURITY_MIRROR"),
		Epoch: sourceDateEpoch(),
	}
}

func sourceDateEpoch() int64 {
	if v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil && v > 0 {
		return v
	}
	return defaultEpoch
}
