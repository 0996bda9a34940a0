#!/usr/bin/env bash
# Runs Prometheus (127.0.0.1:9090) and Alertmanager (127.0.0.1:9093) beside
# the local platform (`make run`: the agent's metrics on 127.0.0.1:8080, the
# portal on 127.0.0.1:8443), with the chart's alert rules, until Ctrl-C. Both
# are built without their web UI: read the alerts through their APIs,
# http://127.0.0.1:9090/api/v1/alerts and http://127.0.0.1:9093/api/v2/alerts,
# or point a Grafana at http://127.0.0.1:9090 and import chart/files/dashboards.
#
# usage: hack/observe.sh <cache-dir> <state-dir>
set -euo pipefail

cache=$1 state=$2
PROMETHEUS_VERSION=$(sed -n 's/^PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-\(.*\)}$/\1/p' "$(dirname "$0")/prom-tools.sh")
ALERTMANAGER_VERSION=$(sed -n 's/^ALERTMANAGER_VERSION=${ALERTMANAGER_VERSION:-\(.*\)}$/\1/p' "$(dirname "$0")/prom-tools.sh")
prometheus="$cache/tools-prometheus-$PROMETHEUS_VERSION/prometheus"
alertmanager="$cache/tools-alertmanager-$ALERTMANAGER_VERSION/alertmanager"

mkdir -p "$state"
cp chart/files/rules/streamspace.rules.yaml "$state/rules.yaml"
cat > "$state/prometheus.yaml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: [rules.yaml]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:9093"]}]}]
scrape_configs:
  - job_name: streamspace-agent
    static_configs: [{targets: ["127.0.0.1:8080"]}]
  - job_name: streamspace-portal
    static_configs: [{targets: ["127.0.0.1:8443"]}]
YAML
# Alerts are kept and shown, not sent anywhere.
cat > "$state/alertmanager.yaml" <<YAML
route: {receiver: none, group_by: [alertname, namespace, name]}
receivers: [{name: none}]
YAML

"$alertmanager" --config.file="$state/alertmanager.yaml" --storage.path="$state/alertmanager" \
  --web.listen-address=127.0.0.1:9093 --cluster.listen-address= &
am=$!
"$prometheus" --config.file="$state/prometheus.yaml" --storage.tsdb.path="$state/prometheus" \
  --web.listen-address=127.0.0.1:9090 &
prom=$!
trap 'kill $prom $am 2>/dev/null; wait' EXIT INT TERM
echo "==> Alerts: curl http://127.0.0.1:9090/api/v1/alerts (Prometheus), http://127.0.0.1:9093/api/v2/alerts (Alertmanager); Ctrl-C stops both"
wait
