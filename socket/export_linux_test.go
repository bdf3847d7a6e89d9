//go:build linux

package socket

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DecodeRaw and EncodeRaw expose the sockaddr codec to the black-box tests
// and fuzz targets.
func DecodeRaw(b []byte) (Sockaddr, error) {
	var rsa unix.RawSockaddrAny
	raw := (*[sizeofSockaddrAny]byte)(unsafe.Pointer(&rsa))
	n := copy(raw[:], b)
	return decodeSockaddr(&rsa, uint32(n))
}

func EncodeRaw(sa Sockaddr) ([]byte, error) {
	var rsa unix.RawSockaddrAny
	n, err := encodeSockaddr(sa, &rsa)
	if err != nil {
		return nil, err
	}
	raw := (*[sizeofSockaddrAny]byte)(unsafe.Pointer(&rsa))
	return append([]byte(nil), raw[:n]...), nil
}

// SetZeroCopyHook installs f to observe which copy path ReadFrom and WriteTo
// take, and returns a function that removes it.
func SetZeroCopyHook(f func(path string)) func() {
	zeroCopyHook = f
	return func() { zeroCopyHook = nil }
}

// FailNextSpliceInto makes the next splice(2) into a copy's destination
// fail with e, as splice into a file system without splice support does.
func FailNextSpliceInto(e syscall.Errno) { drainFault = e }
