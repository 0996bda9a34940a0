package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// serverCounts is what the API server itself counted, from its /metrics:
// requests by verb, resource and code, the time it spent serving them, and
// the time it spent calling admission webhooks. The difference of two reads
// is what one phase cost the server, whoever asked (the bench's creates,
// the webhook's reads, the agent).
type serverCounts struct {
	requests map[string]float64 // "VERB resource[/sub] code"
	seconds  map[string]float64 // "VERB resource[/sub]": server time
	webhook  map[string]float64 // "webhook operation": admission time
	calls    map[string]float64 // "webhook operation": admission calls
}

func readServer(ctx context.Context, cfg *rest.Config) (serverCounts, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return serverCounts{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return serverCounts{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return serverCounts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverCounts{}, fmt.Errorf("API server /metrics: %s", resp.Status)
	}
	return parseServer(resp.Body)
}

func parseServer(r io.Reader) (serverCounts, error) {
	sc := serverCounts{requests: map[string]float64{}, seconds: map[string]float64{}, webhook: map[string]float64{}, calls: map[string]float64{}}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		name, labels, value, ok := sample(s.Text())
		if !ok {
			continue
		}
		what := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			what += "/" + labels["subresource"]
		}
		switch name {
		case "apiserver_request_total":
			sc.requests[what+" "+labels["code"]] += value
		case "apiserver_request_duration_seconds_sum":
			sc.seconds[what] += value
		case "apiserver_admission_webhook_admission_duration_seconds_sum":
			sc.webhook[labels["name"]+" "+labels["operation"]] += value
		case "apiserver_admission_webhook_admission_duration_seconds_count":
			sc.calls[labels["name"]+" "+labels["operation"]] += value
		}
	}
	return sc, s.Err()
}

// sample splits one line of the Prometheus text format; label values with
// escaped quotes do not occur in the samples read here.
func sample(line string) (name string, labels map[string]string, value float64, ok bool) {
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if strings.HasPrefix(line, "#") || open < 0 || end < open {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
	if err != nil {
		return "", nil, 0, false
	}
	labels = map[string]string{}
	for _, kv := range strings.Split(line[open+1:end], `",`) {
		k, val, found := strings.Cut(kv, `="`)
		if found {
			labels[k] = strings.TrimSuffix(val, `"`)
		}
	}
	return line[:open], labels, v, true
}

func (a serverCounts) minus(b serverCounts) serverCounts {
	d := serverCounts{requests: map[string]float64{}, seconds: map[string]float64{}, webhook: map[string]float64{}, calls: map[string]float64{}}
	for _, m := range []struct{ to, x, y map[string]float64 }{{d.requests, a.requests, b.requests}, {d.seconds, a.seconds, b.seconds}, {d.webhook, a.webhook, b.webhook}, {d.calls, a.calls, b.calls}} {
		for k, v := range m.x {
			if v-m.y[k] > 0 {
				m.to[k] = v - m.y[k]
			}
		}
	}
	return d
}

// printServer prints, for the bare and the agent phase side by side, the
// requests the API server served (watches and the server's own
// housekeeping left out), the server time they took, and the admission
// webhook calls. The difference between the columns is what the agent asks
// beyond what the same launches need.
func printServer(bare, agent serverCounts, n int) {
	fmt.Printf("\nAPI server, per phase (its own /metrics; per session in brackets):\n")
	fmt.Printf("  %-48s %16s %16s\n", "request", "bare", "agent")
	keys := union(bare.requests, agent.requests)
	per := func(v float64) string { return fmt.Sprintf("%.0f (%.2f)", v, v/float64(n)) }
	var tb, ta float64
	for _, k := range keys {
		if strings.HasPrefix(k, "WATCH") || (bare.requests[k] < float64(n)/10 && agent.requests[k] < float64(n)/10) {
			continue // leases, discovery, the bench's own watches
		}
		tb, ta = tb+bare.requests[k], ta+agent.requests[k]
		fmt.Printf("  %-48s %16s %16s\n", k, per(bare.requests[k]), per(agent.requests[k]))
	}
	fmt.Printf("  %-48s %16s %16s\n", "requests above", per(tb), per(ta))
	var sb, sa float64
	for _, k := range union(bare.seconds, agent.seconds) {
		if !strings.HasPrefix(k, "WATCH") {
			sb, sa = sb+bare.seconds[k], sa+agent.seconds[k]
		}
	}
	fmt.Printf("  %-48s %15.1fs %15.1fs\n", "server time serving them (sum over requests)", sb, sa)
	for _, k := range union(bare.calls, agent.calls) {
		fmt.Printf("  webhook %-40s %16s %16s\n", k+" calls", per(bare.calls[k]), per(agent.calls[k]))
		fmt.Printf("  webhook %-40s %15.1fs %15.1fs\n", k+" time", bare.webhook[k], agent.webhook[k])
	}
}

func union(a, b map[string]float64) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]float64{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
