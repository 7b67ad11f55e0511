// Package faults holds sessiond's fault-injection suite: tests that run a
// real sessiond over HTTP against real stores and inject the faults a
// reliability engineer would (a store paused with SIGSTOP, a proxy that
// drops an answer after the request reached sessiond), then check what
// users rely on: no honest session is taken for a thief, no session
// forks, every answer is 200, 401 or 503, a 503 comes promptly, and
// everything works again once the fault ends. The package has no code of
// its own; its tests are the product.
package faults
