package metrics

import "github.com/socketkit/socketkit/socket"

// acceptQueue reads a listening TCP socket's accept queue: on a listener,
// TCP_INFO's tcpi_unacked is the queue's length and tcpi_sacked its
// limit (as ss -lt shows them in Recv-Q and Send-Q).
func acceptQueue(s *socket.Socket) (length, limit uint32, ok bool) {
	ti, err := s.TCPInfo()
	if err != nil {
		return 0, 0, false
	}
	return ti.Unacked, ti.Sacked, true
}
