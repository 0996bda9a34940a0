//go:build wasip1

package sdk

import (
	"errors"
	"unsafe"
)

// The host's functions (module "streamspace"; see plugins/wasm). The
// linker keeps only those a plugin calls, so a plugin that never
// hibernates does not import session_hibernate and needs no permission.

//go:wasmimport streamspace config
func config(ptr unsafe.Pointer, capacity uint32) uint32

//go:wasmimport streamspace result
func result(ptr unsafe.Pointer, capacity uint32) uint32

//go:wasmimport streamspace log
func logLine(ptr unsafe.Pointer, n uint32)

//go:wasmimport streamspace fail
func fail(ptr unsafe.Pointer, n uint32)

//go:wasmimport streamspace http_do
func httpDo(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport streamspace session_hibernate
func sessionHibernate(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport streamspace session_annotate
func sessionAnnotate(s unsafe.Pointer, sn uint32, k unsafe.Pointer, kn uint32, v unsafe.Pointer, vn uint32) int32

// inbox holds the event the host writes; it lives until the next event.
var inbox []byte

//go:wasmexport streamspace_alloc
func alloc(size uint32) unsafe.Pointer {
	if uint32(cap(inbox)) < size || size == 0 {
		inbox = make([]byte, max(size, 1))
	}
	inbox = inbox[:size]
	return unsafe.Pointer(unsafe.SliceData(inbox))
}

//go:wasmexport streamspace_handle
func handle(ptr unsafe.Pointer, n uint32) uint32 {
	status, why := dispatch(unsafe.Slice((*byte)(ptr), n))
	if why != "" {
		fail(unsafe.Pointer(unsafe.StringData(why)), uint32(len(why)))
	}
	return status
}

func bytesPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func strPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// answer fetches a host call's result: n >= 0 bytes of data, or -n bytes
// of error message.
func answer(n int32) ([]byte, error) {
	size := n
	if n < 0 {
		size = -n
	}
	buf := make([]byte, size)
	result(bytesPtr(buf), uint32(size))
	if n < 0 {
		return nil, errors.New(string(buf))
	}
	return buf, nil
}

func hostConfig() ([]byte, error) {
	buf := make([]byte, 4<<10)
	for {
		n := config(bytesPtr(buf), uint32(len(buf)))
		if n <= uint32(len(buf)) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
}

func hostLog(line string) { logLine(strPtr(line), uint32(len(line))) }

func hostHTTP(req []byte) ([]byte, error) { return answer(httpDo(bytesPtr(req), uint32(len(req)))) }

func hostHibernate(name string) error {
	_, err := answer(sessionHibernate(strPtr(name), uint32(len(name))))
	return err
}

func hostAnnotate(name, key, value string) error {
	_, err := answer(sessionAnnotate(strPtr(name), uint32(len(name)), strPtr(key), uint32(len(key)), strPtr(value), uint32(len(value))))
	return err
}
