// session-policy hibernates a session that starts or wakes outside the
// configured working hours, in the configured time zone.
package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the sandbox has no filesystem, so no zoneinfo

	"github.com/streamspace/streamspace/plugins/sdk"
)

func init() { sdk.Handle(handle) }

func main() {}

type config struct {
	TimeZone string   `json:"timeZone"`
	Days     []string `json:"days"`
	From     string   `json:"from"`
	Until    string   `json:"until"`
	// ExemptUsers may start sessions at any time (on-call, operators).
	ExemptUsers []string `json:"exemptUsers,omitempty"`
}

// policy is the configuration, read once and checked.
type policy struct {
	loc         *time.Location
	days        []time.Weekday
	from, until int // minutes since midnight
	exempt      []string
}

var pol *policy

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func load() (*policy, error) {
	var c config
	if err := sdk.Config(&c); err != nil {
		return nil, err
	}
	p := &policy{exempt: c.ExemptUsers}
	var err error
	if p.loc, err = time.LoadLocation(c.TimeZone); err != nil {
		return nil, fmt.Errorf("timeZone %q: %w", c.TimeZone, err)
	}
	for _, d := range c.Days {
		wd, ok := weekdays[d]
		if !ok {
			return nil, fmt.Errorf("day %q is not one of sun, mon, tue, wed, thu, fri, sat", d)
		}
		p.days = append(p.days, wd)
	}
	if p.from, err = minutes(c.From); err != nil {
		return nil, err
	}
	if p.until, err = minutes(c.Until); err != nil {
		return nil, err
	}
	if p.from >= p.until {
		return nil, fmt.Errorf("from %s is not before until %s (hours may not span midnight)", c.From, c.Until)
	}
	return p, nil
}

// minutes reads "HH:MM" (00:00 to 24:00).
func minutes(hhmm string) (int, error) {
	var h, m int
	if _, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil || len(hhmm) != 5 || h < 0 || m < 0 || m > 59 || h*60+m > 24*60 {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", hhmm)
	}
	return h*60 + m, nil
}

// allows reports whether t falls within the hours, on one of the days.
func (p *policy) allows(t time.Time) bool {
	t = t.In(p.loc)
	m := t.Hour()*60 + t.Minute()
	return slices.Contains(p.days, t.Weekday()) && m >= p.from && m < p.until
}

func handle(e sdk.Event) error {
	if e.Type != sdk.SessionStarted && e.Type != sdk.SessionWoken {
		return nil
	}
	if pol == nil {
		p, err := load()
		if err != nil {
			return sdk.Permanent(fmt.Errorf("configuration: %w", err))
		}
		pol = p
	}
	// The event's time decides, not the clock: a redelivered event gets
	// the same answer (the sandbox's clock reads the event's time anyway).
	if pol.allows(e.Time) {
		return nil
	}
	if owner := sessionUser(e); owner != "" && slices.Contains(pol.exempt, owner) {
		sdk.Logf("session %s of %s is outside hours, but %s is exempt", e.Subject, owner, owner)
		return nil
	}
	sdk.Logf("hibernating session %s: it %s at %s, outside hours", e.Subject, strings.TrimPrefix(e.Type, "session."), e.Time.In(pol.loc).Format(time.RFC1123))
	if err := sdk.HibernateSession(e.Subject); err != nil {
		return fmt.Errorf("hibernate %s: %w", e.Subject, err)
	}
	return nil
}

// sessionUser is the session's owner from the event's data.
func sessionUser(e sdk.Event) string {
	var d struct {
		User string `json:"user"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return ""
	}
	return d.User
}
