// Command sock runs the socket tutorial in one command and pokes at sockets
// the way nc, ncat and socat do. See "sock --help".
package main

import (
	"os"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
