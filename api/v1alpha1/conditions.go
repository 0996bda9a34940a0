package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition accessors, so the kinds the agent writes conditions on work with
// the shared condition and patch helpers (github.com/fluxcd/pkg/runtime/
// conditions).

// GetConditions returns the status conditions.
func (o *Template) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Template) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetConditions returns the status conditions.
func (o *Session) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Session) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetConditions returns the status conditions.
func (o *User) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *User) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetConditions returns the status conditions.
func (o *GitSync) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *GitSync) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetConditions returns the status conditions.
func (o *PluginRepository) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *PluginRepository) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetConditions returns the status conditions.
func (o *Plugin) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Plugin) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }
