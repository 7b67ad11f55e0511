// Package e2e holds sessiond's end-to-end tests in real headless Chromium
// (Debian's chromium, driven with chromedp): the pages, sessiond.js, cookie
// mode and the CSRF layers as a browser sees them; and forward auth behind
// Debian's real nginx and Caddy, started by the tests in front of an
// echoing upstream, with a Go client and with Chromium. It has no code of
// its own.
package e2e
