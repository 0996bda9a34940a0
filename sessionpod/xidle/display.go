package xidle

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Display is an X display and how to reach it.
type Display struct {
	// Name as in $DISPLAY, e.g. ":1".
	Name string
	// Network and Address for net.Dial: "unix" and an abstract socket
	// ("@/tmp/.X11-unix/X1") or a path, or "tcp" and host:6000+n.
	Network, Address string
	// Screen is the screen number (".0" in ":1.0").
	Screen int
}

// abstractPrefix is where an X server on Linux listens besides its
// socket file. Abstract sockets belong to the network namespace, which
// all containers of a pod share: a sidecar reaches the app's X server
// without sharing /tmp with it.
const abstractPrefix = "@/tmp/.X11-unix/X"

// ParseDisplay reads a $DISPLAY value: ":N[.S]" (the abstract socket of
// display N), "unix:N[.S]" (its socket file), "host:N[.S]" (TCP port
// 6000+N).
func ParseDisplay(s string) (Display, error) {
	host, rest, ok := strings.Cut(s, ":")
	if !ok || strings.HasPrefix(rest, ":") {
		return Display{}, fmt.Errorf("display %q: want [host]:number[.screen], e.g. :1", s)
	}
	num, scr, hasScreen := strings.Cut(rest, ".")
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return Display{}, fmt.Errorf("display %q: number %q is not a display number", s, num)
	}
	screen := uint64(0)
	if hasScreen {
		if screen, err = strconv.ParseUint(scr, 10, 8); err != nil {
			return Display{}, fmt.Errorf("display %q: screen %q is not a screen number", s, scr)
		}
	}
	d := Display{Name: s, Screen: int(screen)}
	switch host {
	case "":
		d.Network, d.Address = "unix", abstractPrefix+num
	case "unix":
		d.Network, d.Address = "unix", "/tmp/.X11-unix/X"+num
	default:
		if n > 65535-6000 {
			return Display{}, fmt.Errorf("display %q: number too large for TCP", s)
		}
		d.Network, d.Address = "tcp", fmt.Sprintf("%s:%d", host, 6000+n)
	}
	return d, nil
}

// FindDisplays lists the X servers listening on abstract sockets in this
// network namespace, from /proc/net/unix (its format: Num RefCount
// Protocol Flags Type St Inode Path), lowest display first.
func FindDisplays(procNetUnix io.Reader) ([]Display, error) {
	const listening = 0x10000 // __SO_ACCEPTCON in Flags
	var out []Display
	seen := map[string]bool{}
	sc := bufio.NewScanner(procNetUnix) // lines are short; a longer one is an error
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 8 || !strings.HasPrefix(f[7], abstractPrefix) {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&listening == 0 {
			continue
		}
		num := strings.TrimPrefix(f[7], abstractPrefix)
		if _, err := strconv.ParseUint(num, 10, 16); err != nil || seen[num] {
			continue
		}
		seen[num] = true
		d, err := ParseDisplay(":" + num)
		if err != nil {
			continue
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the list of unix sockets: %w", err)
	}
	slices.SortFunc(out, func(a, b Display) int {
		x, _ := strconv.Atoi(a.Name[1:])
		y, _ := strconv.Atoi(b.Name[1:])
		return x - y
	})
	return out, nil
}

// Locate finds the display to read: the configured one (flag or
// $DISPLAY) when set, else the only X server listening in this network
// namespace. None or several is an error that says what to set.
func Locate(configured string) (Display, error) {
	if configured != "" {
		return ParseDisplay(configured)
	}
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return Display{}, fmt.Errorf("find the X server: %w (set --display)", err)
	}
	defer f.Close()
	found, err := FindDisplays(f)
	if err != nil {
		return Display{}, fmt.Errorf("find the X server: %w (set --display)", err)
	}
	switch len(found) {
	case 0:
		return Display{}, fmt.Errorf("no X server listens on an abstract socket %s<n> in this pod (is the app's X server running? else set --display)", abstractPrefix)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, d := range found {
		names[i] = d.Name
	}
	return Display{}, fmt.Errorf("several X servers listen in this pod (%s): set --display to the one people use", strings.Join(names, ", "))
}
