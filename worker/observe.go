package worker

import "time"

// Observer is told what a worker does, for metrics (*ops.Metrics implements
// it). Methods must be cheap and safe for concurrent use.
type Observer interface {
	JobStarted(vantage string)
	// JobFinished: verdict is empty when the job failed (failed is true).
	JobFinished(vantage, verdict string, d time.Duration, failed bool)
	// ProbeDone records a port's time to verdict (jobs with a verdict only).
	ProbeDone(verdict string, d time.Duration)
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) JobStarted(string)                               {}
func (nopObserver) JobFinished(string, string, time.Duration, bool) {}
func (nopObserver) ProbeDone(string, time.Duration)                 {}
