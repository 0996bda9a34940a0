package plugins

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// +kubebuilder:webhook:path=/validate-stream-space-v1alpha1-plugin,mutating=false,failurePolicy=fail,sideEffects=None,groups=stream.space,resources=plugins,verbs=create;update,versions=v1alpha1,name=vplugin.stream.space,admissionReviewVersions=v1

// PluginValidator refuses a Plugin whose configuration breaks its plugin's
// schema, with the schema's message, so that `kubectl apply` (and a GitSync)
// fails at once rather than leaving a Plugin that never becomes Ready. The
// schema is the repository catalog's: a plugin not in the catalog yet, or
// at another version than the catalog's, is admitted and the controller
// reports on it once it resolved the version.
type PluginValidator struct {
	Reader client.Reader
}

var _ admission.Validator[*v1alpha1.Plugin] = &PluginValidator{}

// SetupWebhookWithManager registers the validator with mgr's webhook server.
func (v *PluginValidator) SetupWebhookWithManager(mgr ctrl.Manager) error {
	if v.Reader == nil {
		v.Reader = mgr.GetAPIReader()
	}
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.Plugin{}).WithValidator(v).Complete()
}

// ValidateCreate checks the configuration.
func (v *PluginValidator) ValidateCreate(ctx context.Context, p *v1alpha1.Plugin) (admission.Warnings, error) {
	return v.check(ctx, p)
}

// ValidateUpdate checks the configuration when the spec changed, so that
// a label edit is not refused for a schema that changed under it.
func (v *PluginValidator) ValidateUpdate(ctx context.Context, old, p *v1alpha1.Plugin) (admission.Warnings, error) {
	if reflect.DeepEqual(old.Spec, p.Spec) {
		return nil, nil
	}
	return v.check(ctx, p)
}

// ValidateDelete allows every delete.
func (v *PluginValidator) ValidateDelete(context.Context, *v1alpha1.Plugin) (admission.Warnings, error) {
	return nil, nil
}

func (v *PluginValidator) check(ctx context.Context, p *v1alpha1.Plugin) (admission.Warnings, error) {
	repo := &v1alpha1.PluginRepository{}
	err := v.Reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Repository.Name}, repo)
	if apierrors.IsNotFound(err) {
		return admission.Warnings{fmt.Sprintf("config not checked: PluginRepository %s not found", p.Spec.Repository.Name)}, nil
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("get PluginRepository %s: %w", p.Spec.Repository.Name, err))
	}
	entry := catalogEntry(repo, p.Spec.PluginName)
	if entry == nil || !artifact.SameVersion(entry.Version, p.Spec.Version) {
		return admission.Warnings{fmt.Sprintf("config not checked yet: %s %s is not the catalog's version of PluginRepository %s", p.Spec.PluginName, p.Spec.Version, repo.Name)}, nil
	}
	var schema, config []byte
	if entry.ConfigSchema != nil {
		schema = entry.ConfigSchema.Raw
	}
	if p.Spec.Config != nil {
		config = p.Spec.Config.Raw
	}
	if err := manifest.ValidateConfig(schema, config); err != nil {
		return nil, apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind("Plugin").GroupKind(), p.Name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "config"), field.OmitValueType{}, err.Error())})
	}
	return nil, nil
}
