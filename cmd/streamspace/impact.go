package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/validate"
)

// impactFlags are validate's --impact options.
type impactFlags struct {
	impact     bool
	kubeconfig string
	namespace  string
}

func (f *impactFlags) flags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.impact, "impact", false, "Also print what merging would do to the live platform (needs --kubeconfig).")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "Kubeconfig of the live platform, for --impact.")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "Only the GitSyncs of this namespace, for --impact (default: all).")
}

func (f *impactFlags) check(output string) error {
	switch {
	case !f.impact && (f.kubeconfig != "" || f.namespace != ""):
		return errors.New("--kubeconfig and --namespace go with --impact")
	case f.impact && f.kubeconfig == "":
		return errors.New("--impact needs --kubeconfig FILE: the live platform to compare with")
	case f.impact && output == "github":
		return errors.New("--impact prints text or json, not github annotations")
	}
	return nil
}

// forecast reads the live platform and forecasts the impact of root.
func (f *impactFlags) forecast(cmd *cobra.Command, root string) (*validate.Impact, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", f.kubeconfig, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", f.kubeconfig, err)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return validate.ImpactOf(ctx, c, root, f.namespace)
}

func printImpact(out io.Writer, im *validate.Impact, output string) error {
	if output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(im)
	}
	_, err := io.WriteString(out, im.String())
	return err
}

// quietWhenValid prints problems only when there is an error: with
// --impact the output is the impact alone (one JSON document with
// --output json).
func quietWhenValid(w writer) writer {
	return func(out io.Writer, root string, problems []validate.Problem, objects int) error {
		if validate.Errors(problems) == 0 {
			return nil
		}
		return w(out, root, problems, objects)
	}
}
