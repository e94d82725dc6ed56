package app

import "testing"

func TestParseCheckpointChannel(t *testing.T) {
	if ch, ok := parseCheckpointChannel("slack:C0AUDIT"); !ok || ch.Chat != "slack" || ch.ID != "C0AUDIT" {
		t.Errorf("got %+v %v", ch, ok)
	}
	if _, ok := parseCheckpointChannel("C0AUDIT"); ok {
		t.Error("a channel without its chat was accepted")
	}
}
