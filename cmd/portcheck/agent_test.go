package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunAgentUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--port", "0"}, {"--port", "70000"}, {"--port", "22", "--proto", "sctp"}, {"--port", "22", "--peer", "nope"}, {"--port", "22", "extra"}} {
		var out, errb bytes.Buffer
		if code := runAgent(context.Background(), args, stdio{strings.NewReader(""), &out, &errb}); code != 2 {
			t.Errorf("runAgent(%q) = %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestRunAgentJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := runAgent(context.Background(), []string{"--port", "1", "--peer", "127.0.0.1", "--json"}, stdio{strings.NewReader(""), &out, &errb})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var f map[string]any
	if err := json.Unmarshal(out.Bytes(), &f); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"listeners", "firewall", "routes", "query"} {
		if _, ok := f[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out.String())
		}
	}
}

func TestRunAgentText(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runAgent(context.Background(), []string{"--port", "1", "--peer", "198.51.100.7"}, stdio{strings.NewReader(""), &out, &errb}); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"port 1/tcp", "listening:", "firewall", "routes:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
