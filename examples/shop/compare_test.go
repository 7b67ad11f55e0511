package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// codeLines counts the lines of a Go file that are neither blank nor
// comments (a line that only holds a // comment). The template is code.
func codeLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "//") {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLinesBesideSCS: the shop on sessiond takes no more than 1.2 times
// the lines of the same shop on scs (examples/shop-scs), the figure the
// README gives.
func TestLinesBesideSCS(t *testing.T) {
	ours, theirs := codeLines(t, "main.go"), codeLines(t, "../shop-scs/main.go")
	ratio := float64(ours) / float64(theirs)
	t.Logf("sessiond shop: %d lines; scs shop: %d lines; ratio %.2f", ours, theirs, ratio)
	if ratio > 1.2 {
		t.Fatalf("the sessiond shop takes %d lines, %.2f times the scs shop's %d: more than 1.2", ours, ratio, theirs)
	}
}

// TestSCSShop runs the scs shop's own test, in its own module (so this
// module does not depend on scs): the comparison is with a program that
// builds and works, not a sketch. The go command fetches scs from the
// module proxy the first time.
func TestSCSShop(t *testing.T) {
	cmd := exec.Command("go", "test", "-count=1", ".")
	cmd.Dir = "../shop-scs"
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in examples/shop-scs: %v\n%s", err, out)
	}
}
