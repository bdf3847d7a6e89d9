//go:build !linux

package eventloop

func probeIOUring() error {
	return &uringUnavailable{"io_uring is a Linux interface"}
}
