package app

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/store/memory"
)

type brokenTrail struct{ audit.Trail }

func (brokenTrail) Append(context.Context, audit.Record) error { return errors.New("disk full") }

// A record that cannot be written is counted, and the error still reaches
// the caller (who refuses the command).
func TestAuditWriteErrorsAreCounted(t *testing.T) {
	m := newMetrics(Env{Version: "v1", Revision: "abc", GoVersion: "go1.26"})
	ok := countedTrail{memory.NewAudit(), m.AuditWriteError}
	bad := countedTrail{brokenTrail{memory.NewAudit()}, m.AuditWriteError}
	if err := ok.Append(t.Context(), audit.Record{Kind: audit.KindCommand}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := bad.Append(t.Context(), audit.Record{Kind: audit.KindCommand}); err == nil {
			t.Fatal("the error was swallowed")
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"portcheck_audit_write_errors_total 2\n", `portcheck_build_info{goversion="go1.26",revision="abc",version="v1"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
