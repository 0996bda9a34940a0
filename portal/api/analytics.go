package api

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/store"
)

// AnalyticsAPI serves /api/v1/admin/analytics from the session history.
type AnalyticsAPI struct {
	History   SessionHistory
	Client    client.Reader
	Namespace string
	Now       func() time.Time
}

// SessionHistory is the history of sessions the analytics are made of.
type SessionHistory interface {
	SessionHistory(ctx context.Context, since time.Time) ([]store.SessionRecord, error)
}

// Analytics is what the analytics page charts.
type Analytics struct {
	Since       time.Time         `json:"since"`
	Days        []DayUsage        `json:"days"`
	Templates   []Usage           `json:"templates"`
	Users       []Usage           `json:"users"`
	Hibernation HibernationSaving `json:"hibernation"`
}

// DayUsage is one day (UTC) of sessions.
type DayUsage struct {
	Date     string `json:"date"` // 2006-01-02
	Started  int    `json:"started"`
	Users    int    `json:"users"`
	Sessions int    `json:"sessions"` // sessions running at any time that day
}

// Usage is the use of one template or by one user.
type Usage struct {
	Name        string  `json:"name"`
	Sessions    int     `json:"sessions"`
	ActiveHours float64 `json:"activeHours"`
}

// HibernationSaving is what hibernation saved: time sessions were kept but
// consumed nothing, and the resources their templates would have reserved.
type HibernationSaving struct {
	Hibernations    int     `json:"hibernations"`
	HibernatedHours float64 `json:"hibernatedHours"`
	MemoryGiBHours  float64 `json:"memoryGiBHours"`
	CPUCoreHours    float64 `json:"cpuCoreHours"`
}

// Get returns analytics for the last ?days= days (default 30).
func (a *AnalyticsAPI) Get(c *gin.Context) {
	days := 30
	if d := c.Query("days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 366 {
			Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "bad query", Fields: map[string]string{"days": "a number from 1 to 366"}})
			return
		}
		days = n
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	end := now().UTC()
	since := end.Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	// sessions that started before the window but ran into it count too;
	// no session runs longer than a year
	history, err := a.History.SessionHistory(c, since.AddDate(-1, 0, 0))
	if err != nil {
		Fail(c, err)
		return
	}
	var templates streamv1.TemplateList
	if err := a.Client.List(c, &templates, client.InNamespace(a.Namespace)); err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, Summarize(history, templates.Items, since, end))
}

// Summarize computes the analytics of the sessions that ran between since
// and end.
func Summarize(history []store.SessionRecord, templates []streamv1.Template, since, end time.Time) Analytics {
	out := Analytics{Since: since, Days: []DayUsage{}, Templates: []Usage{}, Users: []Usage{}}
	byTemplate, byUser := map[string]*Usage{}, map[string]*Usage{}
	type day struct {
		started  int
		users    map[string]bool
		sessions int
	}
	var dayList []*day
	for d := since; d.Before(end); d = d.Add(24 * time.Hour) {
		dayList = append(dayList, &day{users: map[string]bool{}})
		out.Days = append(out.Days, DayUsage{Date: d.Format("2006-01-02")})
	}
	resources := map[string]streamv1.Template{}
	for _, t := range templates {
		resources[t.Name] = t
	}
	for _, r := range history {
		stop := end
		if r.EndedAt != nil {
			stop = *r.EndedAt
		}
		if stop.Before(since) || !r.StartedAt.Before(end) {
			continue
		}
		from := r.StartedAt
		if from.Before(since) {
			from = since
		}
		// active time: what ran in the window, less the hibernated time
		// (attributed to the window in proportion)
		span := stop.Sub(r.StartedAt).Seconds()
		inWindow := stop.Sub(from).Seconds()
		hib := float64(r.HibernatedSeconds)
		if span > 0 {
			hib = hib * inWindow / span
		}
		active := (inWindow - hib) / 3600
		if active < 0 {
			active = 0
		}
		for key, m := range map[string]map[string]*Usage{r.Template: byTemplate, r.Username: byUser} {
			u := m[key]
			if u == nil {
				u = &Usage{Name: key}
				m[key] = u
			}
			u.Sessions++
			u.ActiveHours += active
		}
		for i, d := range dayList {
			dayStart := since.Add(time.Duration(i) * 24 * time.Hour)
			dayEnd := dayStart.Add(24 * time.Hour)
			if !r.StartedAt.Before(dayStart) && r.StartedAt.Before(dayEnd) {
				d.started++
			}
			if from.Before(dayEnd) && stop.After(dayStart) {
				d.sessions++
				d.users[r.Username] = true
			}
		}
		out.Hibernation.Hibernations += r.Hibernations
		hours := hib / 3600
		out.Hibernation.HibernatedHours += hours
		if t, ok := resources[r.Template]; ok {
			if m := t.Spec.DefaultResources.Memory; m != nil {
				out.Hibernation.MemoryGiBHours += hours * float64(m.Value()) / (1 << 30)
			}
			if cpu := t.Spec.DefaultResources.CPU; cpu != nil {
				out.Hibernation.CPUCoreHours += hours * float64(cpu.MilliValue()) / 1000
			}
		}
	}
	for i, d := range dayList {
		out.Days[i].Started, out.Days[i].Users, out.Days[i].Sessions = d.started, len(d.users), d.sessions
	}
	out.Templates, out.Users = sortedUsage(byTemplate), sortedUsage(byUser)
	return out
}

// sortedUsage orders by active hours, most first.
func sortedUsage(m map[string]*Usage) []Usage {
	out := make([]Usage, 0, len(m))
	for _, u := range m {
		u.ActiveHours = float64(int(u.ActiveHours*100+0.5)) / 100
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ActiveHours != out[j].ActiveHours {
			return out[i].ActiveHours > out[j].ActiveHours
		}
		return out[i].Name < out[j].Name
	})
	return out
}
