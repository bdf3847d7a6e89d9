//go:build linux

package socketserver_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

// TestEchoMatrix runs one echo test over every transport × dispatcher.
func TestEchoMatrix(t *testing.T) {
	for _, tr := range transports {
		for _, d := range dispatchers {
			t.Run(tr.name+"/"+d.name, func(t *testing.T) {
				sockettest.LeakCheck(t)
				srv, err := ss.New(tr.network, tr.addr(t), echoHandler, ss.WithDispatcher(d.make()))
				if err != nil {
					t.Fatal(err)
				}
				stop := serve(t, srv)
				const clients, msgs = 6, 20
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				for i := 0; i < clients; i++ {
					c := dial(t, srv)
					wg.Add(1)
					go func() {
						defer wg.Done()
						for j := 0; j < msgs; j++ {
							if err := exchange(c, []byte(fmt.Sprintf("client %d message %d", i, j))); err != nil {
								errs <- err
								return
							}
						}
						c.Close() // a synchronous server serves one connection at a time
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				stop()
				st := srv.Stats()
				if st.Errors != 0 || st.Active != 0 {
					t.Errorf("stats after the run: %+v", st)
				}
				if srv.Fd() != -1 {
					t.Errorf("Fd after Shutdown = %d", srv.Fd())
				}
			})
		}
	}
}
