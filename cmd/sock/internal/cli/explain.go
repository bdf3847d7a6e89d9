package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// explanation is what sock explain says about one error.
type explanation struct {
	errno syscall.Errno // 0 for the entries that are not errnos (timeout, DNS)
	key   string        // the name for non-errno entries: "timeout", "EAI_NONAME"
	// calls: what the call that returns it was trying to do.
	calls string
	// causes: the usual causes on Linux, most likely first.
	causes []string
	// check: how to tell which cause it is (commands to run).
	check []string
	fix   string
	// python: how Python spells it (exception class, errno name).
	python string
	// texts: other spellings to look it up by (Python's messages...).
	texts  []string
	lesson string // the sock demo lesson that shows it, if any
}

// The python exception subclasses of OSError that an errno maps to (PEP 3151).
const (
	pyOSError = "OSError with e.errno == errno.%s"
)

func newExplain(e *env) *cobra.Command {
	list, asJSON := false, false
	cmd := &cobra.Command{
		Use:   "explain ERR",
		Short: "Explain a socket error (errno name, number or message) in the tutorial's terms",
		Long: `explain says what a socket error means: what the call was trying to do, the
usual causes on Linux, how to check which one it is, the fix, and how Python
and Go spell it. ERR is an errno name (ECONNREFUSED, econnrefused,
CONNREFUSED), a number (111; Windows' 10061 is translated), or the text of an
error message ("address already in use", "[Errno 111] Connection refused",
ConnectionResetError, "i/o timeout"). It also knows timeouts and the name
resolution errors (EAI_NONAME, EAI_AGAIN). sock's own error lines end with
the sock explain command that applies.`,
		Example: `  sock explain ECONNREFUSED
  sock explain 111
  sock explain "address already in use"
  sock explain "OSError: [Errno 98] Address already in use"
  sock explain 10061                 # a Windows number, from the tutorial
  sock explain --list`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return rangeArgs(0, 0)(cmd, args)
			}
			if len(args) == 0 {
				return usagef("explain takes an error: a name (ECONNREFUSED), a number (111) or a message; --list shows them all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				return explainList(e.stdout)
			}
			query := strings.Join(args, " ")
			x, note, ok := lookupExplanation(query)
			if !ok {
				return fmt.Errorf("no explanation for %q: give an errno name (ECONNREFUSED), a number (111) or an error message; sock explain --list shows them all", query)
			}
			if asJSON {
				return writeExplainJSON(e.stdout, x, note)
			}
			printExplanation(e.stdout, x, note)
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list every error explain knows")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	return cmd
}

// name is ECONNREFUSED, or the key of a non-errno entry.
func (x explanation) name() string {
	if x.errno != 0 {
		return errnoCName(x.errno)
	}
	return x.key
}

// errnoCName is the errno's name as Linux's man pages and Python's
// errno.errorcode spell it: EOPNOTSUPP for 95, where x/sys says ENOTSUP.
func errnoCName(en syscall.Errno) string {
	if en == syscall.EOPNOTSUPP {
		return "EOPNOTSUPP"
	}
	return unix.ErrnoName(en)
}

// title is the first line: name, number, message.
func (x explanation) title() string {
	if x.errno != 0 {
		return fmt.Sprintf("%s (errno %d on Linux): %s", x.name(), int(x.errno), x.errno.Error())
	}
	return x.name()
}

func (x explanation) goSpelling() string {
	switch {
	case x.errno != 0:
		return fmt.Sprintf("errors.Is(err, syscall.%s)", x.name())
	case x.key == "timeout":
		return "errors.Is(err, os.ErrDeadlineExceeded); a net.Error with Timeout() true"
	default:
		return fmt.Sprintf("var ae *socket.AddrInfoError; errors.As(err, &ae) (errors.Is(err, socket.%s))", x.key)
	}
}

func printExplanation(w io.Writer, x explanation, note string) {
	fmt.Fprintln(w, x.title())
	if note != "" {
		fmt.Fprintf(w, "  (%s)\n", note)
	}
	fmt.Fprintf(w, "\nWhat the call was trying to do:\n  %s\n", x.calls)
	fmt.Fprintf(w, "\nUsual causes on Linux:\n")
	for _, c := range x.causes {
		fmt.Fprintf(w, "  - %s\n", c)
	}
	if len(x.check) > 0 {
		fmt.Fprintf(w, "\nHow to check which:\n")
		for _, c := range x.check {
			fmt.Fprintf(w, "  $ %s\n", c)
		}
	}
	fmt.Fprintf(w, "\nFix:\n  %s\n", x.fix)
	fmt.Fprintf(w, "\nPython: %s\n", x.python)
	fmt.Fprintf(w, "Go:     %s\n", x.goSpelling())
	if x.lesson != "" {
		fmt.Fprintf(w, "See it happen: sock demo %s\n", x.lesson)
	}
}

func writeExplainJSON(w io.Writer, x explanation, note string) error {
	out := struct {
		Name    string   `json:"name"`
		Errno   int      `json:"errno,omitempty"`
		Message string   `json:"message,omitempty"`
		Note    string   `json:"note,omitempty"`
		Calls   string   `json:"calls"`
		Causes  []string `json:"causes"`
		Check   []string `json:"check,omitempty"`
		Fix     string   `json:"fix"`
		Python  string   `json:"python"`
		Go      string   `json:"go"`
		Lesson  string   `json:"lesson,omitempty"`
	}{Name: x.name(), Errno: int(x.errno), Note: note, Calls: x.calls, Causes: x.causes, Check: x.check,
		Fix: x.fix, Python: x.python, Go: x.goSpelling(), Lesson: x.lesson}
	if x.errno != 0 {
		out.Message = x.errno.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func explainList(w io.Writer) error {
	xs := append([]explanation(nil), explanations...)
	sort.Slice(xs, func(i, j int) bool {
		if (xs[i].errno == 0) != (xs[j].errno == 0) {
			return xs[i].errno != 0
		}
		return xs[i].errno < xs[j].errno
	})
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tERRNO\tMESSAGE")
	for _, x := range xs {
		num, msg := "-", ""
		if x.errno != 0 {
			num, msg = strconv.Itoa(int(x.errno)), x.errno.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", x.name(), num, msg)
	}
	return tw.Flush()
}

// windowsErrno maps the Winsock numbers that tutorials written on Windows
// quote to the Linux errno of the same condition.
var windowsErrno = map[int]syscall.Errno{
	10004: syscall.EINTR, 10009: syscall.EBADF, 10013: syscall.EACCES, 10014: syscall.EFAULT,
	10022: syscall.EINVAL, 10024: syscall.EMFILE, 10035: syscall.EAGAIN, 10036: syscall.EINPROGRESS,
	10037: syscall.EALREADY, 10038: syscall.ENOTSOCK, 10039: syscall.EDESTADDRREQ, 10040: syscall.EMSGSIZE,
	10041: syscall.EPROTOTYPE, 10042: syscall.ENOPROTOOPT, 10043: syscall.EPROTONOSUPPORT,
	10044: syscall.ESOCKTNOSUPPORT, 10045: syscall.EOPNOTSUPP, 10047: syscall.EAFNOSUPPORT,
	10048: syscall.EADDRINUSE, 10049: syscall.EADDRNOTAVAIL, 10050: syscall.ENETDOWN, 10051: syscall.ENETUNREACH,
	10053: syscall.ECONNABORTED, 10054: syscall.ECONNRESET, 10055: syscall.ENOBUFS, 10056: syscall.EISCONN,
	10057: syscall.ENOTCONN, 10058: syscall.ESHUTDOWN, 10060: syscall.ETIMEDOUT, 10061: syscall.ECONNREFUSED,
	10063: syscall.ENAMETOOLONG, 10064: syscall.EHOSTDOWN, 10065: syscall.EHOSTUNREACH,
}

var (
	errnoBracket = regexp.MustCompile(`\[(?:Errno|WinError)\s+(-?\d+)\]`)
	errnoWord    = regexp.MustCompile(`\b(?:WSA)?E[A-Z0-9]{2,}\b|\bEAI_[A-Z]+\b`)
)

func explanationOf(en syscall.Errno) (explanation, bool) {
	for _, x := range explanations {
		if x.errno == en {
			return x, true
		}
	}
	return explanation{}, false
}

func explanationByKey(key string) (explanation, bool) {
	for _, x := range explanations {
		if x.errno == 0 && strings.EqualFold(x.key, key) {
			return x, true
		}
	}
	return explanation{}, false
}

// errnoByName accepts ECONNREFUSED, econnrefused, CONNREFUSED,
// WSAECONNREFUSED.
func errnoByName(name string) (syscall.Errno, bool) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "WSA")
	for _, cand := range []string{n, "E" + n} {
		if en, ok := errnoByNameMap()[cand]; ok {
			return en, true
		}
	}
	return 0, false
}

// errnoByNameMap maps the kernel's errno names to numbers, with the aliases
// glibc defines (EWOULDBLOCK, ENOTSUP, EDEADLOCK).
func errnoByNameMap() map[string]syscall.Errno {
	m := map[string]syscall.Errno{"EWOULDBLOCK": syscall.EAGAIN, "ENOTSUP": syscall.EOPNOTSUPP, "EDEADLOCK": syscall.EDEADLK}
	for i := 1; i < 256; i++ {
		if name := errnoCName(syscall.Errno(i)); name != "" {
			m[name] = syscall.Errno(i)
		}
	}
	return m
}

// lookupExplanation finds the explanation for q: a name, a number or a
// message. note says how q was read when that is not obvious (a Windows
// number, an alias).
func lookupExplanation(q string) (explanation, string, bool) {
	q = strings.TrimSpace(q)
	if q == "" {
		return explanation{}, "", false
	}
	byErrno := func(en syscall.Errno, note string) (explanation, string, bool) {
		if x, ok := explanationOf(en); ok {
			return x, note, true
		}
		return explanation{}, "", false
	}
	// A bare number: Linux errno, Windows Winsock number, or a getaddrinfo code.
	if n, err := strconv.Atoi(q); err == nil {
		return lookupNumber(n)
	}
	// "[Errno 111] ..." as Python prints it.
	if m := errnoBracket.FindStringSubmatch(q); m != nil {
		n, _ := strconv.Atoi(m[1])
		if x, note, ok := lookupNumber(n); ok {
			return x, note, true
		}
	}
	// A name, alone or inside a message.
	if en, ok := errnoByName(q); ok {
		if x, ok := explanationOf(en); ok {
			note := ""
			if up := strings.ToUpper(q); strings.HasPrefix(up, "WSA") {
				note = q + " is Windows' name; on Linux it is " + x.name()
			} else if x.name() != up {
				note = q + " is another name for " + x.name() + " on Linux"
			}
			return x, note, true
		}
	}
	if x, ok := explanationByKey(q); ok {
		return x, "", true
	}
	for _, w := range errnoWord.FindAllString(q, -1) {
		if x, ok := explanationByKey(w); ok {
			return x, "", true
		}
		if en, ok := errnoByName(w); ok {
			if x, _, ok := byErrno(en, ""); ok {
				return x, "", true
			}
		}
	}
	// Message text: the kernel's strerror (as Go and Python print it) or
	// one of the entry's other spellings; the longest match wins, so that
	// "connection reset by peer" beats "connection".
	lq := strings.ToLower(q)
	best, bestLen := -1, 0
	for i, x := range explanations {
		cands := append([]string(nil), x.texts...)
		if x.errno != 0 {
			cands = append(cands, x.errno.Error())
		}
		for _, c := range cands {
			lc := strings.ToLower(c)
			if len(lc) > bestLen && len(lc) >= 4 && strings.Contains(lq, lc) {
				best, bestLen = i, len(lc)
			}
		}
	}
	if best >= 0 {
		return explanations[best], "", true
	}
	return explanation{}, "", false
}

func lookupNumber(n int) (explanation, string, bool) {
	switch {
	case n >= 10000 && n < 12000:
		if en, ok := windowsErrno[n]; ok {
			if x, ok := explanationOf(en); ok {
				return x, fmt.Sprintf("%d is a Windows (Winsock) number; on Linux the same error is %s, errno %d", n, x.name(), int(en)), true
			}
		}
		return explanation{}, "", false
	case n == -2:
		x, ok := explanationByKey("EAI_NONAME")
		return x, "-2 is getaddrinfo's EAI_NONAME (socket.gaierror)", ok
	case n == -3:
		x, ok := explanationByKey("EAI_AGAIN")
		return x, "-3 is getaddrinfo's EAI_AGAIN (socket.gaierror)", ok
	case n > 0:
		x, ok := explanationOf(syscall.Errno(n))
		return x, "", ok
	}
	return explanation{}, "", false
}

// explainHint is the end of an error line: " (sock explain ECONNREFUSED)"
// when sock explain has something to say about err, "" otherwise.
func explainHint(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if x, ok := explanationOf(en); ok {
			return " (sock explain " + x.name() + ")"
		}
		return ""
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return " (sock explain timeout)"
	}
	var ae *socket.AddrInfoError
	if errors.As(err, &ae) {
		switch ae.Code {
		case socket.EAI_NONAME, socket.EAI_NODATA:
			return " (sock explain EAI_NONAME)"
		case socket.EAI_AGAIN:
			return " (sock explain EAI_AGAIN)"
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return " (sock explain EAI_NONAME)"
		}
		if dnsErr.IsTemporary || dnsErr.IsTimeout {
			return " (sock explain EAI_AGAIN)"
		}
	}
	return ""
}
