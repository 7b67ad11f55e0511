// Package express holds no Go code of its own: it is the directory of the
// Express example (a Node application that keeps its users' sessions in
// sessiond; see README.md), and express_test.go runs the example's own
// tests (node --test against a real sessiond) from go test, so that
// go test ./... and CI run them.
package express
