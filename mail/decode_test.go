package mail_test

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"testing"
)

type mimeDecoder struct{ mime.WordDecoder }

func (d *mimeDecoder) header(t *testing.T, s string) string {
	t.Helper()
	got, err := d.DecodeHeader(s)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (d *mimeDecoder) qp(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
