package token_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/token"
)

// TestCheckValue: the value of an application claim is exactly one strict
// JSON value. Everything accepted is also valid to encoding/json; what is
// refused is either not JSON at all or JSON that decoders disagree on.
func TestCheckValue(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	var many strings.Builder // an object with more names than the linear search holds
	many.WriteByte('{')
	for i := range 40 {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	manyObj := many.String() + "}"
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"string", `"admin"`, true},
		{"empty string", `""`, true},
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"`, true},
		{"utf-8", `"rôle ✓"`, true},
		{"zero", `0`, true},
		{"negative", `-12`, true},
		{"fraction", `3.25`, true},
		{"exponent", `1e9`, true},
		{"signed exponent", `-1.5E-3`, true},
		{"plus exponent", `2e+10`, true},
		{"true", `true`, true},
		{"false", `false`, true},
		{"null", `null`, true},
		{"array", `["a",1,true,null,{"b":[]}]`, true},
		{"empty array", `[]`, true},
		{"empty object", `{}`, true},
		{"object", `{"id":7,"name":"acme","tags":["x"]}`, true},
		{"whitespace", " \t\n{ \"a\" : [ 1 , 2 ] }\r\n", true},
		{"same name in different objects", `{"a":{"a":1},"b":{"a":2}}`, true},
		{"32 levels", deep(32), true},
		{"32 levels of objects", deepObj(32), true},
		{"many names", manyObj, true},

		{"empty", ``, false},
		{"only whitespace", `  `, false},
		{"single quotes", `'admin'`, false},
		{"bare word", `admin`, false},
		{"two values", `"a" "b"`, false},
		{"two values no space", `1"b"`, false},
		{"trailing comma in array", `[1,]`, false},
		{"trailing comma in object", `{"a":1,}`, false},
		{"leading comma", `[,1]`, false},
		{"missing value", `{"a":}`, false},
		{"missing colon", `{"a" 1}`, false},
		{"name only", `{"a"}`, false},
		{"number name", `{1:2}`, false},
		{"unclosed array", `[1`, false},
		{"unclosed object", `{"a":1`, false},
		{"unclosed string", `"abc`, false},
		{"leading zero", `01`, false},
		{"negative leading zero", `-01`, false},
		{"dot without digits", `1.`, false},
		{"leading dot", `.5`, false},
		{"plus sign", `+1`, false},
		{"lone minus", `-`, false},
		{"empty exponent", `1e`, false},
		{"exponent sign only", `1e+`, false},
		{"hex", `0x10`, false},
		{"NaN", `NaN`, false},
		{"Infinity", `Infinity`, false},
		{"truncated true", `tru`, false},
		{"True", `True`, false},
		{"nul", `nul`, false},
		{"trailing letters", `truex`, false},
		{"comment", `1 // x`, false},
		{"duplicate name", `{"a":1,"a":2}`, false},
		{"duplicate name escaped", `{"a":1,"\u0061":2}`, false},
		{"duplicate name nested", `[{"x":{"b":1,"b":1}}]`, false},
		{"duplicate name among many", strings.TrimSuffix(manyObj, "}") + `,"kxxx":2}`, false},
		{"33 levels", deep(33), false},
		{"33 levels of objects", deepObj(33), false},
		{"invalid utf-8", "\"\xff\"", false},
		{"invalid utf-8 name", "{\"\xff\":1}", false},
		{"raw control char", "\"a\x01b\"", false},
		{"raw newline in string", "\"a\nb\"", false},
		{"lone high surrogate", `"\ud800"`, false},
		{"lone low surrogate", `"\udc00"`, false},
		{"bad escape", `"\x41"`, false},
		{"short unicode escape", `"\u12"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := token.CheckValue([]byte(tt.value))
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckValue(%q) = %v, want nil", tt.value, err)
				}
				if !json.Valid([]byte(tt.value)) {
					t.Fatalf("accepted %q, which encoding/json says is not JSON", tt.value)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckValue(%q) accepted", tt.value)
			}
		})
	}
}
