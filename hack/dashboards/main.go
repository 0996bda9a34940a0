// Command dashboards generates StreamSpace's Grafana dashboards ("Session
// Overview", "GitOps sync and drift", "Portal") as JSON into
// chart/files/dashboards, built in Go with the Grafana Foundation SDK so
// their queries are code that review and tests read. `make dashboards` runs
// it; a test fails when the committed JSON is stale, and test/observe runs
// every panel query against a real Prometheus.
//
// Every query aggregates by the object's own labels (never by instance):
// the session and GitSync gauges come from the agent's leader only, so the
// dashboards are right with any number of agent replicas.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func main() {
	out := flag.String("out", "chart/files/dashboards", "Folder the dashboard JSON files are written to.")
	flag.Parse()
	files, err := Render()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "dashboards:", err)
			os.Exit(1)
		}
	}
}

// Render builds every dashboard: file name → JSON.
func Render() (map[string][]byte, error) {
	files := map[string][]byte{}
	for name, b := range map[string]*dashboard.DashboardBuilder{
		"streamspace-sessions.json": sessionOverview(),
		"streamspace-gitops.json":   gitops(),
		"streamspace-portal.json":   portal(),
	} {
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", name, err)
		}
		data, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", name, err)
		}
		files[name] = append(data, '\n')
	}
	return files, nil
}

// ds is the dashboard's Prometheus, chosen by the datasource variable.
var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func newDashboard(title, uid, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"streamspace"}).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus"))
}

// query is one PromQL target; legend "" keeps Grafana's default.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().Expr(expr).Datasource(ds)
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

func statPanel(title, description, unit, expr string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(description).Datasource(ds).
		Unit(unit).Span(6).Height(4).
		GraphMode(common.BigValueGraphModeArea).
		WithTarget(query(expr, ""))
}

func graph(title, description, unit string, span uint32, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(description).Datasource(ds).
		Unit(unit).Span(span).Height(8).Min(0)
	for _, t := range targets {
		p = p.WithTarget(t)
	}
	return p
}

// instantTable is a table of an instant query, one row per series.
func instantTable(title, description, expr string) *table.PanelBuilder {
	return table.NewPanelBuilder().Title(title).Description(description).Datasource(ds).
		Span(12).Height(8).
		WithTarget(query(expr, "").Instant().Format(prometheus.PromQueryFormatTable))
}

func quantiles(metric, by, selector string) []*prometheus.DataqueryBuilder {
	var qs []*prometheus.DataqueryBuilder
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		qs = append(qs, query(fmt.Sprintf(`histogram_quantile(%s, sum by (le, %s) (rate(%s_bucket%s[$__rate_interval])))`, q, by, metric, selector),
			fmt.Sprintf("p%s {{%s}}", q[2:], by)))
	}
	return qs
}

func sessionOverview() *dashboard.DashboardBuilder {
	return newDashboard("StreamSpace / Session Overview", "streamspace-sessions",
		"Sessions running and hibernated, memory against the cluster, lifecycle events, users and the API.").
		WithRow(dashboard.NewRowBuilder("Now")).
		WithPanel(statPanel("Running sessions", "Sessions in phase Running.", "none", `sum(streamspace_active_sessions_total)`)).
		WithPanel(statPanel("Hibernated sessions", "Sessions scaled to zero, waiting to be woken.", "none", `sum(streamspace_hibernated_sessions_total)`)).
		WithPanel(statPanel("Active users", "Distinct users with a Pending or Running session.", "none", `sum(streamspace_active_users)`)).
		WithPanel(statPanel("Cluster memory requested", "What running sessions request against the schedulable nodes' allocatable memory (alert at 85%).", "percentunit",
			`sum(streamspace_session_resource_requests{resource="memory"}) / sum(streamspace_cluster_allocatable{resource="memory"})`)).
		WithRow(dashboard.NewRowBuilder("Sessions")).
		WithPanel(graph("Active vs hibernated", "Sessions by phase.", "none", 12,
			query(`sum by (phase) (streamspace_sessions)`, "{{phase}}"))).
		WithPanel(graph("Memory requested", "Memory requested by running sessions, by template and in total, against what the cluster can give.", "bytes", 12,
			query(`sum by (template) (streamspace_session_resource_requests{resource="memory"})`, "{{template}}"),
			query(`sum(streamspace_session_resource_requests{resource="memory"})`, "total"),
			query(`sum(streamspace_cluster_allocatable{resource="memory"})`, "allocatable"))).
		WithPanel(graph("Memory per session", "Average memory a running session requests.", "bytes", 12,
			query(`sum(streamspace_session_resource_requests{resource="memory"}) / sum(streamspace_active_sessions_total)`, "average"))).
		WithPanel(graph("CPU requested", "CPU requested by running sessions, by template, against the allocatable CPU.", "none", 12,
			query(`sum by (template) (streamspace_session_resource_requests{resource="cpu"})`, "{{template}}"),
			query(`sum(streamspace_cluster_allocatable{resource="cpu"})`, "allocatable"))).
		WithPanel(graph("Memory requested vs used", "What running sessions request against what their pods really use (working set, from metrics.k8s.io: no data where the cluster has no metrics-server), by template.", "bytes", 12,
			query(`sum by (template) (streamspace_session_resource_requests{resource="memory"})`, "requested {{template}}"),
			query(`sum by (template) (streamspace_session_resource_used{resource="memory"})`, "used {{template}}"))).
		WithPanel(graph("CPU requested vs used", "CPU cores running sessions request against what their pods really use (metrics.k8s.io: no data where the cluster has no metrics-server), by template.", "none", 12,
			query(`sum by (template) (streamspace_session_resource_requests{resource="cpu"})`, "requested {{template}}"),
			query(`sum by (template) (streamspace_session_resource_used{resource="cpu"})`, "used {{template}}"))).
		WithRow(dashboard.NewRowBuilder("Lifecycle")).
		WithPanel(graph("Lifecycle events", "Starts (launch, wake), hibernations and terminations, per interval.", "none", 12,
			query(`sum by (kind) (increase(streamspace_session_starts_total[$__rate_interval]))`, "start {{kind}}"),
			query(`sum by (reason) (increase(streamspace_session_hibernations_total[$__rate_interval]))`, "hibernate {{reason}}"),
			query(`sum by (reason) (increase(streamspace_session_terminations_total[$__rate_interval]))`, "terminate {{reason}}"))).
		WithPanel(graph("Start latency", "Time from a launch to each start phase (scheduled, image ready, stream ready), p50/p95/p99.", "s", 12,
			quantiles("streamspace_session_start_latency_seconds", "phase", `{kind="Launch"}`)...)).
		WithPanel(graph("Launches slower than the SLO", "Share of launches not stream-ready within 30 s (SLO: at most 5%), over 5 minutes and 1 hour.", "percentunit", 12,
			query(`streamspace:launch_slow_ratio:rate5m`, "5m"),
			query(`streamspace:launch_slow_ratio:rate1h`, "1h"))).
		WithPanel(graph("Hibernation", "How long sessions stay hibernated before a wake (p50/p95), and running sessions past their idle deadline.", "s", 12,
			query(`histogram_quantile(0.5, sum by (le) (rate(streamspace_hibernation_duration_seconds_bucket[$__rate_interval])))`, "p50 hibernated for"),
			query(`histogram_quantile(0.95, sum by (le) (rate(streamspace_hibernation_duration_seconds_bucket[$__rate_interval])))`, "p95 hibernated for"))).
		WithRow(dashboard.NewRowBuilder("Users")).
		WithPanel(graph("User activity", "Active users and the running sessions they hold.", "none", 12,
			query(`sum(streamspace_active_users)`, "active users"),
			query(`sum(streamspace_active_sessions_total)`, "running sessions"))).
		WithPanel(instantTable("Running sessions by age", "Every running session with the time since its current run began (alert past 12 h).",
			`sort_desc(time() - max by (namespace, session, user, template) (streamspace_session_start_time_seconds))`)).
		WithRow(dashboard.NewRowBuilder("API performance")).
		WithPanel(graph("Portal requests", "Portal API requests per second by status code (details on the Portal dashboard).", "reqps", 12,
			query(`sum by (code) (rate(streamspace_portal_requests_total[$__rate_interval]))`, "{{code}}"))).
		WithPanel(graph("Agent reconcile latency", "p95 of agent reconciles by kind.", "s", 12,
			query(`histogram_quantile(0.95, sum by (le, kind) (rate(streamspace_reconcile_duration_seconds_bucket[$__rate_interval])))`, "{{kind}}")))
}

func gitops() *dashboard.DashboardBuilder {
	return newDashboard("StreamSpace / GitOps sync and drift", "streamspace-gitops",
		"What each GitSync applied and when, its inventory, drift by object and by field manager, blocked prunes and push webhooks.").
		WithRow(dashboard.NewRowBuilder("Syncs")).
		WithPanel(instantTable("Applied revision", "The revision each GitSync applied last.",
			`max by (namespace, name, revision) (streamspace_gitsync_applied_revision_info)`)).
		WithPanel(instantTable("Ready", "1 while a GitSync's last sync applied; 0 when it fails (the Ready condition says why).",
			`max by (namespace, name) (streamspace_gitsync_ready)`)).
		WithPanel(graph("Time since last success", "Seconds since each GitSync last applied its revision (alert at 3 intervals).", "s", 12,
			query(`time() - max by (namespace, name) (streamspace_gitsync_last_success_timestamp_seconds)`, "{{namespace}}/{{name}}"),
			query(`max by (namespace, name) (streamspace_gitsync_interval_seconds)`, "interval {{namespace}}/{{name}}"))).
		WithPanel(graph("Inventory", "Objects each GitSync manages.", "none", 12,
			query(`max by (namespace, name) (streamspace_gitsync_inventory_objects)`, "{{namespace}}/{{name}}"))).
		WithPanel(graph("Fetches and errors", "Repository fetches and failed fetches per interval.", "none", 12,
			query(`sum by (namespace, name) (increase(streamspace_gitsync_fetches_total[$__rate_interval]))`, "fetch {{namespace}}/{{name}}"),
			query(`sum by (namespace, name) (increase(streamspace_gitsync_fetch_errors_total[$__rate_interval]))`, "error {{namespace}}/{{name}}"))).
		WithPanel(graph("Sync duration", "p95 of GitSync reconciles by outcome.", "s", 12,
			query(`histogram_quantile(0.95, sum by (le, outcome) (rate(streamspace_reconcile_duration_seconds_bucket{kind="GitSync"}[$__rate_interval])))`, "{{outcome}}"))).
		WithRow(dashboard.NewRowBuilder("Drift")).
		WithPanel(graph("Drifted objects", "Objects that differ from Git and were not reverted, per GitSync.", "none", 12,
			query(`max by (namespace, name) (streamspace_gitsync_drifted_objects)`, "{{namespace}}/{{name}}"))).
		WithPanel(instantTable("Drift by object", "Each drifted object and the field manager that changed it.",
			`max by (namespace, name, object, manager) (streamspace_gitsync_drifted_object)`)).
		WithPanel(graph("Drift by field manager", "Drifted objects by the field manager that changed them.", "none", 12,
			query(`sum by (manager) (max by (namespace, name, object, manager) (streamspace_gitsync_drifted_object))`, "{{manager}}"))).
		WithPanel(graph("Drift found and reverted", "Drift detections and corrections (driftMode correct) per interval, by kind.", "none", 12,
			query(`sum by (kind) (increase(streamspace_drift_detected_total[$__rate_interval]))`, "detected {{kind}}"),
			query(`sum by (kind) (increase(streamspace_drift_corrected_total[$__rate_interval]))`, "reverted {{kind}}"))).
		WithRow(dashboard.NewRowBuilder("Prune and webhooks")).
		WithPanel(graph("Prune blocked", "1 while objects removed from Git are kept because live sessions use them.", "none", 12,
			query(`max by (namespace, name) (streamspace_gitsync_prune_blocked)`, "{{namespace}}/{{name}}"))).
		WithPanel(graph("Webhook deliveries", "Push notifications by source and result (triggered, ignored, unauthorized, invalid).", "none", 12,
			query(`sum by (source, result) (increase(streamspace_gitsync_webhook_requests_total[$__rate_interval]))`, "{{source}} {{result}}")))
}

func portal() *dashboard.DashboardBuilder {
	return newDashboard("StreamSpace / Portal", "streamspace-portal",
		"The portal's API: request rate, errors, latency by route; stream connections and bytes.").
		WithRow(dashboard.NewRowBuilder("API")).
		WithPanel(graph("Request rate by route", "Requests per second by route pattern.", "reqps", 12,
			query(`sum by (route) (rate(streamspace_portal_requests_total[$__rate_interval]))`, "{{route}}"))).
		WithPanel(graph("Errors", "Share of requests answered 5xx, and refused requests (401, 403, 429) per second.", "percentunit", 12,
			query(`(sum(rate(streamspace_portal_requests_total{code=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(streamspace_portal_requests_total[$__rate_interval]))`, "5xx share"),
			query(`sum by (code) (rate(streamspace_portal_auth_failures_total[$__rate_interval]))`, "refused {{code}}"))).
		WithPanel(graph("Latency by route", "p50, p95 and p99 of request latency by route.", "s", 24,
			quantiles("streamspace_portal_request_duration_seconds", "route", "")...)).
		WithRow(dashboard.NewRowBuilder("Streams")).
		WithPanel(graph("Open streams", "Stream connections open through the portal, by kind (vnc, web).", "none", 12,
			query(`sum by (kind) (streamspace_portal_stream_connections)`, "{{kind}}"))).
		WithPanel(graph("Stream bytes", "Bytes per second proxied, by direction.", "Bps", 12,
			query(`sum by (direction) (rate(streamspace_portal_stream_bytes_total[$__rate_interval]))`, "{{direction}}"))).
		WithPanel(graph("Stream connects", "Stream connection attempts per second by outcome.", "none", 12,
			query(`sum by (outcome) (rate(streamspace_portal_stream_connects_total[$__rate_interval]))`, "{{outcome}}")))
}
