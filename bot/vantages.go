package bot

import (
	"github.com/portcheck/portcheck/wire"
	"slices"

	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// VantageWorkers is the detail behind Vantages: the live workers
// themselves (Params.Workers), listed by `/portcheck vantages`.
type VantageWorkers interface {
	VantageWorkers(ctx context.Context) ([]wire.WorkerInfo, error)
}

// vantagesMessage answers `/portcheck vantages`.
func (b *Bot) vantagesMessage(ctx context.Context) Message {
	var ws []wire.WorkerInfo
	var err error
	if b.p.Workers != nil {
		ws, err = b.p.Workers.VantageWorkers(ctx)
	} else if b.p.Others != nil {
		var names []string
		names, err = b.p.Others.Vantages(ctx)
		for _, n := range names {
			ws = append(ws, wire.WorkerInfo{Vantage: n})
		}
	}
	if err != nil {
		b.log.Error("listing vantages", "err", err)
		return Message{Status: StatusError, Text: "cannot list vantages right now (the job queue is unavailable); try again in a minute"}
	}
	return VantagesMessage(b.lim.Vantage, b.p.Local != nil, ws, b.p.Now())
}

// VantagesMessage lists where checks can run from: the local vantage (when
// this process runs a worker) and every live worker, with version, labels
// and how long ago it was last seen.
func VantagesMessage(local string, localWorker bool, ws []wire.WorkerInfo, now time.Time) Message {
	ws = append([]wire.WorkerInfo(nil), ws...)
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].Vantage != ws[j].Vantage {
			return ws[i].Vantage < ws[j].Vantage
		}
		return ws[i].Worker < ws[j].Worker
	})
	var names []string
	for _, w := range ws {
		if !slices.Contains(names, w.Vantage) {
			names = append(names, w.Vantage)
		}
	}
	if localWorker && !slices.Contains(names, local) {
		names = append([]string{local}, names...)
		ws = append([]wire.WorkerInfo{{Vantage: local, Worker: "this process"}}, ws...)
	}
	if len(names) == 0 {
		return Message{Status: StatusInfo, Text: "no vantage is being served: no worker is running",
			Blocks: []Block{{Kind: BlockText, Text: "Run `portcheck worker --vantage NAME` (with REDIS_URL) where you want to check from."}}}
	}
	if len(ws) == 1 && ws[0].Worker == "this process" {
		return Message{Status: StatusInfo, Text: "only the local vantage is available: " + local,
			Blocks: []Block{{Kind: BlockText, Text: "Run `portcheck worker --vantage NAME` elsewhere (with Redis) to check from other places."}}}
	}
	m := Message{Status: StatusInfo, Text: fmt.Sprintf("%d vantages: %s", len(names), strings.Join(names, ", "))}
	if len(names) == 1 {
		m.Text = "1 vantage: " + names[0]
	}
	rows := [][]string{}
	for _, w := range ws {
		var labels []string
		for k, v := range w.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		seen := "now"
		if !w.LastSeen.IsZero() {
			seen = "seen " + ago(now.Sub(w.LastSeen))
		}
		rows = append(rows, []string{w.Vantage, w.Worker, orDash(w.Version), orDash(strings.Join(labels, ",")), seen})
	}
	m.Blocks = []Block{{Kind: BlockCode, Title: "Workers", Text: table(rows)},
		{Kind: BlockText, Text: "Check from them with `from NAME`, `from a,b` or `from all`."}}
	return m
}

func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	}
	return d.Round(time.Second).String() + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// table aligns columns with two spaces between them.
func table(rows [][]string) string {
	var w []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(w) {
				w = append(w, 0)
			}
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", w[i]-len([]rune(c))+2))
			}
		}
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}
