package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func runCapture(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantOut string
		wantErr string
	}{
		{[]string{"config", "check", "../../config/testdata/valid-full.yaml"}, 0, "valid-full.yaml: ok", ""},
		{[]string{"config", "check", "--config", "../../config/testdata/invalid-unknown-key.yaml"}, 1, "", `unknown key "alow"`},
		{[]string{"config", "check", "../../config/testdata/missing.yaml"}, 1, "", "missing.yaml"},
		{[]string{"config", "frobnicate"}, 2, "", `unknown verb "frobnicate"`},
		{[]string{"config"}, 2, "", "Usage:"},
		{[]string{"config", "show", "../../config/testdata/valid-full.yaml"}, 0, "(set, hidden)", ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCapture(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.wantOut) || !strings.Contains(errs, tc.wantErr) {
				t.Errorf("code=%d out=%q err=%q; want code %d, out ~%q, err ~%q", code, out, errs, tc.code, tc.wantOut, tc.wantErr)
			}
			if strings.Contains(out, "secret") {
				t.Error("config show leaked the Redis password")
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errs := runCapture("frob")
	if code != 2 || !strings.Contains(errs, `unknown command "frob"`) {
		t.Errorf("code=%d err=%q", code, errs)
	}
}
