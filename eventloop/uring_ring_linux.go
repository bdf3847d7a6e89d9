//go:build linux

package eventloop

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An io_uring instance, written on golang.org/x/sys/unix, which has the
// system call numbers and nothing else: the layouts below mirror the
// kernel's UAPI header, include/uapi/linux/io_uring.h, field for field.
// Only what the engine uses is declared.

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64 // off, addr2
	addr        uint64 // addr, splice_off_in
	len         uint32
	opFlags     uint32 // msg_flags, accept_flags, cancel_flags, rw_flags...
	userData    uint64
	bufGroup    uint16 // buf_index, buf_group
	personality uint16
	fileIndex   uint32 // splice_fd_in, file_index, addr_len
	addr3       uint64
	_           uint64
}

// uringCQE is struct io_uring_cqe (16 bytes: no IORING_SETUP_CQE32).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

type uringSQRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQRingOffsets
	cqOff                                                                  uringCQRingOffsets
}

// uringBuf is struct io_uring_buf, an entry of a provided-buffer ring.
type uringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16 // in entry 0: the ring's tail
}

// uringBufReg is struct io_uring_buf_reg (IORING_REGISTER_PBUF_RING).
type uringBufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// uringGeteventsArg is struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type uringGeteventsArg struct {
	sigmask     uint64
	sigmaskSz   uint32
	minWaitUsec uint32
	ts          uint64
}

type uringProbeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}

// uringProbe is struct io_uring_probe with room for every opcode.
type uringProbe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [256]uringProbeOp
}

// The sizes the kernel expects; a mistake here fails the build.
var (
	_ [64 - unsafe.Sizeof(uringSQE{})]byte
	_ [unsafe.Sizeof(uringSQE{}) - 64]byte
	_ [16 - unsafe.Sizeof(uringCQE{})]byte
	_ [120 - unsafe.Sizeof(uringParams{})]byte
	_ [unsafe.Sizeof(uringParams{}) - 120]byte
	_ [40 - unsafe.Sizeof(uringBufReg{})]byte
	_ [24 - unsafe.Sizeof(uringGeteventsArg{})]byte
)

// Constants of the UAPI header.
const (
	// io_uring_setup(2) flags
	iorSetupCQSize        = 1 << 3
	iorSetupSubmitAll     = 1 << 7
	iorSetupCoopTaskrun   = 1 << 8
	iorSetupSingleIssuer  = 1 << 12
	iorSetupDeferTaskrun  = 1 << 13
	iorFeatSingleMmap     = 1 << 0
	iorFeatNoDrop         = 1 << 1
	iorFeatSubmitStable   = 1 << 2
	iorFeatFastPoll       = 1 << 5
	iorFeatExtArg         = 1 << 8
	iorFeatMinTimeout     = 1 << 15
	iorOffSQRing          = 0
	iorOffCQRing          = 0x8000000
	iorOffSQEs            = 0x10000000
	iorSQCQOverflow       = 1 << 1 // sq_ring->flags: completions wait in the kernel's overflow list
	iorEnterGetEvents     = 1 << 0
	iorEnterExtArg        = 1 << 3
	iorEnterRegisteredRng = 1 << 4

	// io_uring_register(2) opcodes
	iorRegisterProbe     = 8
	iorRegisterRingFDs   = 20
	iorUnregisterRingFDs = 21
	iorRegisterPbufRing  = 22
	iorUnregisterPbuf    = 23
	iorOpSupported       = 1 << 0

	// opcodes
	iorOpRead        = 22
	iorOpSendmsg     = 9
	iorOpAccept      = 13
	iorOpAsyncCancel = 14
	iorOpSend        = 26
	iorOpRecv        = 27

	// sqe->flags
	iosqeBufferSelect = 1 << 5

	// sqe->ioprio for accept, recv
	iorAcceptMultishot = 1 << 0
	iorRecvMultishot   = 1 << 1

	// sqe->cancel_flags
	iorCancelAll = 1 << 0
	iorCancelFD  = 1 << 1
	iorCancelAny = 1 << 2

	// cqe->flags
	iorCQEFBuffer    = 1 << 0
	iorCQEFMore      = 1 << 1
	iorCQEFBufMore   = 1 << 4
	iorCQEBufferShft = 16

	// io_uring_buf_reg->flags
	iouPbufRingInc = 2
)

// ring is one io_uring instance: the submission and completion rings
// mapped from the kernel. It is used by one thread, the one that created
// it (IORING_SETUP_SINGLE_ISSUER); nothing in it is safe for another.
type ring struct {
	fd       int
	features uint32
	regIndex int // the ring's registered index (IORING_REGISTER_RING_FDS), or -1

	rings  []byte // the SQ and CQ rings (one mapping: IORING_FEAT_SINGLE_MMAP)
	sqeMem []byte

	sqHead    *uint32 // the kernel's: the SQEs it has consumed
	sqTail    *uint32 // ours: the SQEs we have published
	sqFlags   *uint32
	sqMask    uint32
	sqEntries uint32
	sqes      []uringSQE
	tail      uint32 // SQEs filled, published at the next enter

	cqHead     *uint32 // ours
	cqTail     *uint32 // the kernel's
	cqOverflow *uint32
	cqMask     uint32
	cqes       []uringCQE
	head       uint32 // our copy of *cqHead

	arg uringGeteventsArg
	ts  unix.Timespec
}

// The flags every ring of the engine is created with: one thread submits
// and reaps (SINGLE_ISSUER), and completions are processed only when that
// thread asks for them (DEFER_TASKRUN), so that the kernel interrupts
// neither the loop nor other threads for them; a bad SQE does not stop
// the others of its batch (SUBMIT_ALL).
const ringFlags = iorSetupSingleIssuer | iorSetupDeferTaskrun | iorSetupSubmitAll | iorSetupCQSize

// The features the backend cannot do without, each named for the
// fallback sentence.
var ringFeatures = []struct {
	bit  uint32
	name string
}{
	{iorFeatSingleMmap, "IORING_FEAT_SINGLE_MMAP"},
	{iorFeatNoDrop, "IORING_FEAT_NODROP"},
	{iorFeatSubmitStable, "IORING_FEAT_SUBMIT_STABLE"},
	{iorFeatFastPoll, "IORING_FEAT_FAST_POLL"},
	{iorFeatExtArg, "IORING_FEAT_EXT_ARG"},
}

// newRing creates a ring with sq submission entries and cq completion
// entries (io_uring_setup(2)) and maps it. The calling goroutine must be
// locked to its thread, which becomes the ring's only submitter.
func newRing(sq, cq uint32) (*ring, error) {
	p := uringParams{flags: ringFlags, cqEntries: cq}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(sq), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, os.NewSyscallError("io_uring_setup", e)
	}
	r := &ring{fd: int(fd), features: p.features, regIndex: -1}
	for _, f := range ringFeatures {
		if p.features&f.bit == 0 {
			r.close()
			return nil, &missingFeature{f.name}
		}
	}
	if err := r.mmap(&p); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// missingFeature is the error of a kernel without a feature the backend
// needs.
type missingFeature struct{ name string }

func (m *missingFeature) Error() string { return "io_uring: the kernel lacks " + m.name }

func (r *ring) mmap(p *uringParams) error {
	size := int(p.sqOff.array + p.sqEntries*4)
	if cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(uringCQE{}))); cqSize > size {
		size = cqSize
	}
	mem, err := unix.Mmap(r.fd, iorOffSQRing, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.rings = mem
	sqes, err := unix.Mmap(r.fd, iorOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.sqeMem = sqes
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqFlags = u32(p.sqOff.head), u32(p.sqOff.tail), u32(p.sqOff.flags)
	r.sqMask, r.sqEntries = *u32(p.sqOff.ringMask), *u32(p.sqOff.ringEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqes[0])), r.sqEntries)
	// The SQ index array maps ring slots to SQEs: slot i is SQE i, always.
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[p.sqOff.array])), r.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.cqHead, r.cqTail, r.cqOverflow = u32(p.cqOff.head), u32(p.cqOff.tail), u32(p.cqOff.overflow)
	r.cqMask = *u32(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&mem[p.cqOff.cqes])), *u32(p.cqOff.ringEntries))
	r.head = atomic.LoadUint32(r.cqHead)
	r.tail = atomic.LoadUint32(r.sqTail)
	return nil
}

// uringRsrcUpdate is struct io_uring_rsrc_update.
type uringRsrcUpdate struct {
	offset uint32
	resv   uint32
	data   uint64
}

// registerRingFd registers the ring's descriptor with the calling thread
// (IORING_REGISTER_RING_FDS), which spares the kernel a descriptor lookup
// at every enter. Failing that, enter uses the descriptor. The
// registration holds the ring open: close undoes it, on the same thread.
func (r *ring) registerRingFd() {
	upd := uringRsrcUpdate{offset: ^uint32(0), data: uint64(r.fd)}
	n, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), iorRegisterRingFDs, uintptr(unsafe.Pointer(&upd)), 1, 0, 0)
	if e == 0 && n == 1 {
		r.regIndex = int(upd.offset)
	}
}

// close unmaps the rings and closes the ring's descriptor, which cancels
// whatever is still in flight. A registered descriptor is unregistered
// first: close must then run on the thread that registered it.
func (r *ring) close() {
	if r.regIndex >= 0 {
		upd := uringRsrcUpdate{offset: uint32(r.regIndex)}
		unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), iorUnregisterRingFDs, uintptr(unsafe.Pointer(&upd)), 1, 0, 0)
		r.regIndex = -1
	}
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.rings != nil {
		unix.Munmap(r.rings)
		r.rings = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// sqe returns the next free submission entry, zeroed, or nil when the
// submission ring is full (submit, then ask again).
func (r *ring) sqe() *uringSQE {
	if r.tail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		return nil
	}
	e := &r.sqes[r.tail&r.sqMask]
	*e = uringSQE{}
	r.tail++
	return e
}

// unsubmitted is how many filled entries the kernel has not consumed.
func (r *ring) unsubmitted() uint32 { return r.tail - atomic.LoadUint32(r.sqHead) }

// ready is how many completions wait to be reaped.
func (r *ring) ready() uint32 { return atomic.LoadUint32(r.cqTail) - r.head }

// advance consumes the completion at the head.
func (r *ring) advance() {
	r.head++
	atomic.StoreUint32(r.cqHead, r.head)
}

// overflowed reports whether completions wait in the kernel's overflow
// list because the completion ring was full (they are flushed into it by
// the next enter that gets events).
func (r *ring) overflowed() bool { return atomic.LoadUint32(r.sqFlags)&iorSQCQOverflow != 0 }

// enter publishes the filled submission entries and makes one
// io_uring_enter(2): it submits them and, with wait, blocks until a
// completion is ready or ms milliseconds pass (ms < 0: no limit). With
// DEFER_TASKRUN the kernel completes requests only inside an enter that
// gets events, so every call asks for them, waiting or not. A call that
// may block goes through the scheduler (Syscall6), one that does not
// skips it (RawSyscall6). It returns nothing for an interrupted wait
// (EINTR: the Go runtime's preemption signal), a timeout (ETIME), or a
// full completion ring (EBUSY: reap and enter again); dropped completions
// (EBADR, which IORING_FEAT_NODROP makes all but impossible) come back as
// errDroppedCQEs for the caller to count.
func (r *ring) enter(wait bool, ms int) error { return r.enterBatch(wait, ms, 1, 0) }

// uringLongWaitMs stands for no time limit in a wait with a minimum wait:
// an hour, after which an idle loop goes round once.
const uringLongWaitMs = 3600 * 1000

// enterBatch is enter that, when waiting, waits for up to minWaitUs
// microseconds for batch completions, and then for the first one, until
// ms (IORING_FEAT_MIN_TIMEOUT, Linux 6.12; ms < 0 stands for
// uringLongWaitMs): a busy loop is woken once for several completions
// instead of once for each. Without the feature, with batch 1 or with
// minWaitUs 0, it is enter: a wait for batch completions with no other
// limit than ms could wait for ever for a send that its peer leaves
// incomplete.
func (r *ring) enterBatch(wait bool, ms int, batch, minWaitUs uint32) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	fd := uintptr(r.fd)
	flags := uintptr(iorEnterGetEvents)
	if r.regIndex >= 0 {
		fd = uintptr(r.regIndex)
		flags |= iorEnterRegisteredRng
	}
	var minComplete uintptr
	var arg, argSize uintptr
	if wait {
		minComplete = 1
		r.arg = uringGeteventsArg{}
		if batch > 1 && minWaitUs > 0 && r.features&iorFeatMinTimeout != 0 {
			minComplete = uintptr(batch)
			r.arg.minWaitUsec = minWaitUs
			flags |= iorEnterExtArg
			if ms < 0 {
				// Without an overall timeout the kernel ends the wait
				// when the minimum wait does, with ETIME and nothing to
				// show: an idle loop would wake every minWaitUs. With one
				// it goes on to wait for the first completion.
				ms = uringLongWaitMs
			}
		}
		if ms >= 0 {
			r.ts = unix.NsecToTimespec(int64(ms) * 1e6)
			r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
			flags |= iorEnterExtArg
		}
		if flags&iorEnterExtArg != 0 {
			arg, argSize = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
		}
	}
	for {
		toSubmit := uintptr(r.unsubmitted())
		var e unix.Errno
		if wait {
			_, _, e = unix.Syscall6(unix.SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, arg, argSize)
		} else {
			_, _, e = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, fd, toSubmit, 0, flags, 0, 0)
		}
		switch e {
		case 0, unix.ETIME, unix.EBUSY, unix.EAGAIN:
			return nil
		case unix.EINTR:
			if r.ready() > 0 {
				return nil
			}
			continue // nothing was submitted (a submission is counted, not interrupted): again
		case unix.EBADR:
			return errDroppedCQEs
		}
		return os.NewSyscallError("io_uring_enter", e)
	}
}

// errDroppedCQEs reports completions the kernel dropped (EBADR).
var errDroppedCQEs = os.NewSyscallError("io_uring_enter", unix.EBADR)

// register is io_uring_register(2).
func (r *ring) register(op uintptr, arg unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), op, uintptr(arg), n, 0, 0)
	if e != 0 {
		return os.NewSyscallError("io_uring_register", e)
	}
	return nil
}

// probeOps returns the opcodes the kernel supports (IORING_REGISTER_PROBE).
func (r *ring) probeOps() (map[uint8]bool, error) {
	var p uringProbe
	if err := r.register(iorRegisterProbe, unsafe.Pointer(&p), uintptr(len(p.ops))); err != nil {
		return nil, err
	}
	ops := make(map[uint8]bool, p.opsLen)
	for _, o := range p.ops[:p.opsLen] {
		if o.flags&iorOpSupported != 0 {
			ops[o.op] = true
		}
	}
	return ops, nil
}

// userData is what a request carries to its completion: an operation,
// the descriptor that is the connection's slot (its number is not reused
// while a request on it is in flight: the engine closes it after the
// last completion) and the low 24 bits of the connection's generation.
// Never a Go pointer.
func userData(op uint8, fd int32, gen uint32) uint64 {
	return uint64(uint32(fd))<<32 | uint64(gen&genMask)<<8 | uint64(op)
}

const genMask = 1<<24 - 1

func splitUserData(ud uint64) (op uint8, fd int32, gen uint32) {
	return uint8(ud), int32(ud >> 32), uint32(ud>>8) & genMask
}

// bufRing is a ring of provided buffers (IORING_REGISTER_PBUF_RING): the
// kernel takes one for each receive and says which in the completion;
// the loop gives it back once the data has been handed on. The entries
// and the buffers are anonymous mappings, out of the Go heap.
//
// With incremental consumption (IOU_PBUF_RING_INC, Linux 6.12) a receive
// takes only what it needs of the buffer at the head of the ring, and the
// next receive, of any connection, goes on in the same buffer: small
// messages are packed into few buffers (few cache lines touched), and a
// bulk receive still gets a whole large buffer. A completion flagged
// IORING_CQE_F_BUF_MORE leaves its buffer with the kernel; the loop keeps
// each buffer's fill offset and gives the buffer back with the completion
// that retires it.
type bufRing struct {
	bgid    uint16
	size    int // of a buffer
	mask    uint16
	inc     bool     // incremental consumption
	off     []uint32 // with inc: how much of each buffer the kernel has filled
	mem     []byte   // the ring's entries
	bufs    []byte   // the buffers, size each
	entries []uringBuf
	tail    uint16 // ours; the kernel sees it at publish
	out     int    // buffers the kernel has retired and we have not given back
}

// newBufRing maps n buffers of size bytes (n a power of two) and
// registers them with r as buffer group bgid, every buffer provided, for
// incremental consumption if inc (EINVAL before Linux 6.12).
func newBufRing(r *ring, bgid uint16, n, size int, inc bool) (*bufRing, error) {
	b := &bufRing{bgid: bgid, size: size, mask: uint16(n - 1), inc: inc}
	if inc {
		b.off = make([]uint32, n)
	}
	var err error
	b.mem, err = unix.Mmap(-1, 0, n*int(unsafe.Sizeof(uringBuf{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	b.bufs, err = unix.Mmap(-1, 0, n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		unix.Munmap(b.mem)
		return nil, os.NewSyscallError("mmap", err)
	}
	b.entries = unsafe.Slice((*uringBuf)(unsafe.Pointer(&b.mem[0])), n)
	reg := uringBufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.mem[0]))), ringEntries: uint32(n), bgid: bgid}
	if inc {
		reg.flags = iouPbufRingInc
	}
	if err := r.register(iorRegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		b.unmap()
		return nil, err
	}
	for i := 0; i < n; i++ {
		b.put(uint16(i))
	}
	b.out = 0
	b.publish()
	return b, nil
}

// buf returns buffer bid's first n bytes.
func (b *bufRing) buf(bid uint16, n int) []byte {
	off := int(bid) * b.size
	return b.bufs[off : off+n : off+b.size]
}

// take returns the n bytes a completion's receive put in buffer bid, and
// whether the kernel has retired the buffer (then it is the caller's to
// put back once the bytes are handed on). A completion of no bytes (end
// of stream) or an error retires nothing, whatever its flags say: the
// kernel gives the buffer back itself (and kernels without the fix for
// liburing issue 1553 flag an incrementally consumed buffer as retired
// after a transfer of no bytes while they keep it: putting it back would
// provide it twice).
func (b *bufRing) take(bid uint16, n int, flags uint32) (data []byte, retired bool) {
	if n <= 0 {
		return nil, false
	}
	start := int(bid) * b.size
	if b.inc {
		start += int(b.off[bid])
		b.off[bid] += uint32(n)
	}
	retired = !b.inc || flags&iorCQEFBufMore == 0
	if retired {
		b.out++
	}
	return b.bufs[start : start+n : start+n], retired
}

// put gives buffer bid back; the kernel sees it after publish.
func (b *bufRing) put(bid uint16) {
	if b.inc {
		b.off[bid] = 0
	}
	e := &b.entries[b.tail&b.mask]
	e.addr = uint64(uintptr(unsafe.Pointer(&b.bufs[int(bid)*b.size])))
	e.len = uint32(b.size)
	e.bid = bid
	b.tail++
	b.out--
}

// publish makes the buffers put since the last publish visible to the
// kernel. The tail is a 16-bit word that overlays entry 0's resv; Go has
// no 16-bit atomic store, so the 32-bit word it shares with entry 0's bid
// is stored whole, with that bid as it is (only this thread writes it).
func (b *bufRing) publish() {
	w := [2]uint16{b.entries[0].bid, b.tail}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b.mem[12])), *(*uint32)(unsafe.Pointer(&w)))
}

func (b *bufRing) unmap() {
	if b.mem != nil {
		unix.Munmap(b.mem)
		b.mem = nil
	}
	if b.bufs != nil {
		unix.Munmap(b.bufs)
		b.bufs = nil
	}
}
