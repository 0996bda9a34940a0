package api

import (
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/auth"
)

// TemplatesAPI serves the catalog.
type TemplatesAPI struct {
	Client    client.Reader
	Namespace string
}

// TemplateView is a catalog entry.
type TemplateView struct {
	Name        string              `json:"name"`
	DisplayName string              `json:"displayName"`
	Description string              `json:"description,omitempty"`
	Category    string              `json:"category"`
	Icon        string              `json:"icon,omitempty"`
	Tags        []string            `json:"tags,omitempty"`
	Stream      streamv1.StreamSpec `json:"stream"`
	Resources   map[string]string   `json:"resources,omitempty"`
	DataPolicy  streamv1.DataPolicy `json:"dataPolicy"`
}

// List returns every template, by category then name.
func (a *TemplatesAPI) List(c *gin.Context) {
	var list streamv1.TemplateList
	if err := a.Client.List(c, &list, client.InNamespace(a.Namespace)); err != nil {
		Fail(c, err)
		return
	}
	sort.Slice(list.Items, func(i, j int) bool {
		x, y := list.Items[i].Spec, list.Items[j].Spec
		if x.Category != y.Category {
			return x.Category < y.Category
		}
		return x.DisplayName < y.DisplayName
	})
	out := make([]TemplateView, 0, len(list.Items))
	for _, t := range list.Items {
		v := TemplateView{Name: t.Name, DisplayName: t.Spec.DisplayName, Description: t.Spec.Description, Category: t.Spec.Category,
			Icon: t.Spec.Icon, Tags: t.Spec.Tags, Stream: t.Spec.Stream, DataPolicy: t.Spec.DataPolicy}
		if r := t.Spec.DefaultResources; r.Memory != nil || r.CPU != nil {
			v.Resources = map[string]string{}
			if r.Memory != nil {
				v.Resources["memory"] = r.Memory.String()
			}
			if r.CPU != nil {
				v.Resources["cpu"] = r.CPU.String()
			}
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"templates": out})
}

// UsersAPI serves the caller's own profile.
type UsersAPI struct {
	Client    client.Reader
	Namespace string
}

// Me returns who the caller is, their quota and what they use of it.
func (a *UsersAPI) Me(c *gin.Context) {
	p := auth.Principal(c)
	q, _, err := quota.Resolve(c, a.Client, a.Namespace, p.Subject)
	if err != nil {
		Fail(c, err)
		return
	}
	used, err := quota.UsageOf(c, a.Client, a.Namespace, p.Subject, nil)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"username": p.Subject, "role": p.Role, "groups": p.Groups, "mustChangePassword": p.MustChangePassword,
		"quota": gin.H{"name": q.Name, "reason": q.Reason, "limits": q.Limits},
		"usage": gin.H{"sessions": used.Sessions, "runningSessions": used.RunningSessions, "memory": used.Memory.String(), "cpu": used.CPU.String()},
	})
}
