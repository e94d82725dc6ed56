package bot

import (
	"time"

	"github.com/portcheck/portcheck/checks"
)

// ProbeObserver is an Observer that also records each port's time to
// verdict (*ops.Metrics does). Optional, so Observer stays small for the
// implementations that do not care.
type ProbeObserver interface {
	ProbeDone(verdict string, d time.Duration)
}

// observeProbe reports a finished probe to o when o wants it.
func observeProbe(o Observer, r checks.Report) {
	if po, ok := o.(ProbeObserver); ok && r.Verdict != "" {
		po.ProbeDone(string(r.Verdict), time.Duration(r.ElapsedMS)*time.Millisecond)
	}
}
