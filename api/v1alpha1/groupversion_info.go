// Package v1alpha1 holds the StreamSpace custom resources (group stream.space).
//
// +kubebuilder:object:generate=true
// +groupName=stream.space
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every StreamSpace resource.
	GroupVersion = schema.GroupVersion{Group: "stream.space", Version: "v1alpha1"}

	// SchemeBuilder registers the StreamSpace types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the StreamSpace types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
