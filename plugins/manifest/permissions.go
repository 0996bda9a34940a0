package manifest

import (
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Risk is how much harm a permission can do in a plugin's hands.
type Risk string

const (
	RiskLow    Risk = "low"
	RiskMedium Risk = "medium"
	RiskHigh   Risk = "high"
)

// rank orders risks; an unknown risk ranks above high, so that a typo in a
// trust policy never grants more.
func (r Risk) rank() int {
	switch r {
	case RiskLow:
		return 1
	case RiskMedium:
		return 2
	case RiskHigh:
		return 3
	}
	return 4
}

// Exceeds reports whether r is riskier than limit.
func (r Risk) Exceeds(limit Risk) bool { return r.rank() > limit.rank() }

// ParseRisk reads a risk level.
func ParseRisk(s string) (Risk, error) {
	switch r := Risk(s); r {
	case RiskLow, RiskMedium, RiskHigh:
		return r, nil
	}
	return "", fmt.Errorf("unknown risk %q (want low, medium or high)", s)
}

// The permissions a plugin can ask for. The vocabulary is closed: the
// runtimes expose nothing that is not named here, so a permission the
// platform does not know is an error, not a no-op.
const (
	PermSessionEvents     = "events:session.*"
	PermUserEvents        = "events:user.*"
	PermSessionsAnnotate  = "sessions:annotate"
	PermSessionsHibernate = "sessions:hibernate"
	// networkPrefix + host: HTTP to that one host (a WebAssembly plugin's
	// host function, or a webhook plugin's plain-http target).
	networkPrefix = "network:"
)

var fixedRisks = map[string]Risk{
	PermSessionEvents:     RiskLow,
	PermUserEvents:        RiskMedium, // personal data
	PermSessionsAnnotate:  RiskMedium,
	PermSessionsHibernate: RiskHigh, // stops people's work
}

// RiskOf returns the risk of a permission, or an error naming what is
// wrong with it.
func RiskOf(perm string) (Risk, error) {
	if r, ok := fixedRisks[perm]; ok {
		return r, nil
	}
	if host, ok := strings.CutPrefix(perm, networkPrefix); ok {
		if err := checkHost(host); err != nil {
			return "", fmt.Errorf("permission %q: %w", perm, err)
		}
		return RiskMedium, nil
	}
	return "", fmt.Errorf("unknown permission %q (known: %s, %s, %s, %s, network:<host>)",
		perm, PermSessionEvents, PermUserEvents, PermSessionsAnnotate, PermSessionsHibernate)
}

// NetworkPermission is the permission to reach host.
func NetworkPermission(host string) string { return networkPrefix + host }

// checkHost accepts a DNS name, optionally with a port: one exact host, so
// an approval names what it grants (no wildcards, no addresses, which would
// let a plugin reach the cluster's own network by number).
func checkHost(hostport string) error {
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if msgs := validation.IsValidPortNum(atoiOrZero(port)); len(msgs) > 0 {
			return fmt.Errorf("invalid port %q", port)
		}
		host = h
	}
	if net.ParseIP(host) != nil {
		return fmt.Errorf("host %q is an IP address; name a DNS host", host)
	}
	if msgs := validation.IsDNS1123Subdomain(host); len(msgs) > 0 || !strings.Contains(host, ".") {
		return fmt.Errorf("host %q is not a fully qualified DNS name", host)
	}
	return nil
}

func atoiOrZero(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 65535 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
