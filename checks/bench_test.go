package checks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/netlab"
)

// BenchmarkLabRange checks the lab server's ports 1-65535 from the client
// namespace, in a child process as `portcheck check --json` would (every
// report made in full and printed as it comes, one short line each: the
// JSON encoding is the CLI's, which bench/check.sh measures), and nmap -sT -T4 -p- right after
// it, and reports for both the wall time, the CPU time (user+sys) and the
// peak resident memory of the whole process, and the ratios. The
// open/closed/filtered sets must be the same. Root only (the lab); nmap
// optional (without it only portcheck's figures).
//
//	go test -run '^$' -bench LabRange -benchtime 3x ./checks/
//	LAB_RANGE_PROFILE=/tmp/range.pprof go test -run '^$' -bench LabRange -benchtime 1x ./checks/   # the child's CPU profile
//
// The machine is shared: read the ratios of one run, not the absolute
// figures across runs.
func BenchmarkLabRange(b *testing.B) {
	if err := netlab.Requirements(); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("lab required under CI=true: %v", err)
		}
		b.Skipf("skipping lab benchmark: %v (run as root with iproute2 and iptables)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := netlab.Up(ctx, netlab.Options{})
	if err != nil {
		b.Fatalf("build lab: %v", err)
	}
	b.Cleanup(func() { _ = lab.Close() })
	nmap, _ := exec.LookPath("nmap")
	target := lab.Addr.Server.String()
	var pc, nm []usage
	b.ResetTimer()
	for range b.N {
		job := labProbeJob{Req: Request{Target: target + ":1-65535", Host: target}, Range: [2]int{1, 65535}, Timeout: 5 * time.Second,
			Stream: true, CPUProfile: os.Getenv("LAB_RANGE_PROFILE")}
		raw, err := json.Marshal(job)
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		u := runMeasured(b, lab.NS.Client, &out, []string{labProbeEnv + "=" + string(raw)}, os.Args[0], "-test.run=^$", "-test.bench=^$")
		pcSets := rangeSets(b, &out)
		pc = append(pc, u)
		if nmap == "" {
			continue
		}
		out.Reset()
		nm = append(nm, runMeasured(b, lab.NS.Client, &out, nil, nmap, "-n", "-sT", "-T4", "-Pn", "-p-", "-oG", "-", target))
		nmSets := nmapSets(&out)
		for _, state := range []string{"open", "filtered", "closed"} {
			if !slices.Equal(pcSets[state], nmSets[state]) {
				b.Errorf("%s: portcheck %s, nmap %s", state, short(pcSets[state]), short(nmSets[state]))
			}
		}
	}
	b.StopTimer()
	p := medianUsage(pc)
	b.ReportMetric(p.wall.Seconds(), "pc-wall-s")
	b.ReportMetric(p.cpu.Seconds(), "pc-cpu-s")
	b.ReportMetric(p.rssMiB, "pc-peak-MiB")
	if len(nm) > 0 {
		n := medianUsage(nm)
		b.ReportMetric(n.wall.Seconds(), "nmap-wall-s")
		b.ReportMetric(n.cpu.Seconds(), "nmap-cpu-s")
		b.ReportMetric(n.rssMiB, "nmap-peak-MiB")
		b.ReportMetric(p.wall.Seconds()/n.wall.Seconds(), "wall-ratio")
		b.ReportMetric(p.cpu.Seconds()/n.cpu.Seconds(), "cpu-ratio")
		b.ReportMetric(p.rssMiB/n.rssMiB, "rss-ratio")
	}
}

// usage is what one process cost.
type usage struct {
	wall, cpu time.Duration
	rssMiB    float64
}

// runMeasured runs a command inside the namespace and reads its wall
// time and its rusage (ip netns exec execs the command in place, so the
// process measured is the command).
func runMeasured(b *testing.B, ns string, out *bytes.Buffer, env []string, name string, args ...string) usage {
	b.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return usage{wall: wall, cpu: cpu, rssMiB: float64(ru.Maxrss) / 1024}
}

func medianUsage(us []usage) usage {
	med := func(f func(usage) float64) float64 {
		v := make([]float64, len(us))
		for i, u := range us {
			v[i] = f(u)
		}
		slices.Sort(v)
		return v[(len(v)-1)/2]
	}
	return usage{
		wall:   time.Duration(med(func(u usage) float64 { return float64(u.wall) })),
		cpu:    time.Duration(med(func(u usage) float64 { return float64(u.cpu) })),
		rssMiB: med(func(u usage) float64 { return u.rssMiB }),
	}
}

// rangeSets reads the child's "port verdict reason" lines in nmap -sT's
// terms: accepted = open; a reset or an ICMP port-unreachable = closed
// (connect() sees ECONNREFUSED for both); anything else = filtered.
func rangeSets(b *testing.B, out *bytes.Buffer) map[string][]int {
	b.Helper()
	sets := map[string][]int{}
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			b.Fatalf("child line %q", sc.Text())
		}
		port, _ := strconv.Atoi(f[0])
		state := "filtered"
		switch {
		case f[1] == string(VerdictOpen) || f[1] == string(VerdictServiceRefused):
			state = "open"
		case f[1] == string(VerdictClosed) || f[2] == string(ReasonICMPPortUnreachable):
			state = "closed"
		}
		sets[state] = append(sets[state], port)
		n++
	}
	if n != 65535 {
		b.Fatalf("%d reports, want 65535", n)
	}
	return sets
}

// nmapSets reads nmap's grepable output; the closed ports it folds into
// "Ignored State" are the ports not listed.
func nmapSets(out *bytes.Buffer) map[string][]int {
	sets := map[string][]int{}
	listed := map[int]bool{}
	for _, line := range strings.Split(out.String(), "\n") {
		_, ports, ok := strings.Cut(line, "Ports: ")
		if !ok {
			continue
		}
		ports, _, _ = strings.Cut(ports, "\t")
		for _, e := range strings.Split(ports, ", ") {
			f := strings.Split(e, "/")
			if len(f) < 2 {
				continue
			}
			port, err := strconv.Atoi(strings.TrimSpace(f[0]))
			if err != nil {
				continue
			}
			listed[port] = true
			sets[f[1]] = append(sets[f[1]], port)
		}
	}
	for port := 1; port <= 65535; port++ {
		if !listed[port] && len(listed) > 0 {
			sets["closed"] = append(sets["closed"], port)
		}
	}
	slices.Sort(sets["closed"])
	return sets
}

func short(ports []int) string {
	if len(ports) > 20 {
		return fmt.Sprintf("%d ports (%v...)", len(ports), ports[:20])
	}
	return fmt.Sprint(ports)
}

// streamRange is the child's side of a Stream job: CheckEach over the
// range, each report printed as it comes.
func streamRange(p *Prober, job labProbeJob) int {
	var reqs []Request
	for port := job.Range[0]; port <= job.Range[1]; port++ {
		r := job.Req
		r.Port = port
		reqs = append(reqs, r)
	}
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	p.CheckEach(context.Background(), reqs, Hooks{
		Report: func(_ int, r Report) {
			// Each report is made in full (diagnosis, hints); its JSON is
			// the CLI's business (bench/check.sh measures that).
			fmt.Fprintf(w, "%d %s %s\n", r.Port, r.Verdict, r.Reason)
		},
		Flush: func() { _ = w.Flush() },
	})
	_ = w.Flush()
	return 0
}
