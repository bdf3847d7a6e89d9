//go:build linux

package socketserver_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCPythonConformanceTable keeps testdata/cpython-conformance.md true to
// cpython_test.go: every ported method's Go test is in the table, every Go
// test it names exists and is named after its method, and the counts add
// up.
func TestCPythonConformanceTable(t *testing.T) {
	md, err := os.ReadFile("testdata/cpython-conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	af, err := parser.ParseFile(token.NewFileSet(), "cpython_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, d := range af.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") && strings.Contains(fd.Name.Name, "_") {
			defined[fd.Name.Name] = true
		}
	}
	row := regexp.MustCompile("^\\| `([A-Za-z0-9_]+)\\.([A-Za-z0-9_]+)` \\| (pass|by design|n/a) \\| (.*) \\|$")
	named := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`")
	counts, listed := map[string]int{}, map[string]bool{}
	for _, line := range strings.Split(string(md), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		counts[m[3]]++
		for _, g := range named.FindAllStringSubmatch(m[4], -1) {
			listed[g[1]] = true
			if !defined[g[1]] || g[1] != "Test"+m[1]+"_"+m[2] {
				t.Errorf("row %s.%s names %s", m[1], m[2], g[1])
			}
		}
		if m[3] == "pass" && !named.MatchString(m[4]) {
			t.Errorf("%s.%s passes without a Go test", m[1], m[2])
		}
	}
	for g := range defined {
		if !listed[g] {
			t.Errorf("%s is not in the table", g)
		}
	}
	want := regexp.MustCompile(`(\d+) apply: (\d+) pass, (\d+) differ by design`).FindStringSubmatch(string(md))
	if want == nil {
		t.Fatal("the table has no count")
	}
	apply, _ := strconv.Atoi(want[1])
	pass, _ := strconv.Atoi(want[2])
	design, _ := strconv.Atoi(want[3])
	if pass != counts["pass"] || design != counts["by design"] || apply != pass+design {
		t.Errorf("the count says %d apply, %d pass, %d by design; the rows have %d pass, %d by design",
			apply, pass, design, counts["pass"], counts["by design"])
	}
}
