package xidle

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

const cookieName = "MIT-MAGIC-COOKIE-1"

// maxXauthority bounds the cookie file we read: a real one holds a few
// entries of under 100 bytes each.
const maxXauthority = 1 << 20

// CookieFor reads the MIT-MAGIC-COOKIE-1 of display d from an Xauthority
// file (the format xauth writes: family, address, display number, name,
// data, each a big-endian 16-bit length and its bytes). No file means no
// auth: the X server may run without access control. A file without an
// entry for the display is also no auth, and the X server says so if it
// wanted one.
func CookieFor(path string, d Display) (*Auth, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read X authority %s: %w", path, err)
	}
	defer f.Close()
	auth, err := parseXauthority(io.LimitReader(f, maxXauthority), displayNumber(d))
	if err != nil {
		return nil, fmt.Errorf("read X authority %s: %w", path, err)
	}
	return auth, nil
}

// parseXauthority returns the first cookie of display number num
// (FamilyLocal and FamilyWild entries, and the others: in a pod every
// address is this host).
func parseXauthority(r io.Reader, num string) (*Auth, error) {
	br := bufio.NewReader(r)
	field := func() ([]byte, error) {
		var n uint16
		if err := binary.Read(br, binary.BigEndian, &n); err != nil {
			return nil, err
		}
		b := make([]byte, n) // at most 64 KiB, and the reader is limited
		_, err := io.ReadFull(br, b)
		return b, err
	}
	for {
		var family uint16
		if err := binary.Read(br, binary.BigEndian, &family); err == io.EOF {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		var f [4][]byte // address, number, name, data
		for i := range f {
			b, err := field()
			if err != nil {
				return nil, fmt.Errorf("truncated entry: %w", err)
			}
			f[i] = b
		}
		if string(f[2]) == cookieName && (len(f[1]) == 0 || string(f[1]) == num) {
			return &Auth{Name: cookieName, Data: f[3]}, nil
		}
	}
}

// displayNumber is N of ":N.S".
func displayNumber(d Display) string {
	_, rest, _ := strings.Cut(d.Name, ":")
	num, _, _ := strings.Cut(rest, ".")
	return num
}
