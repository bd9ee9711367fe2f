package cli

import (
	"context"
	"fmt"
	"path"
	"text/tabwriter"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/stacks"
)

func newCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect panka's configuration"}
	var stack string
	show := &cobra.Command{
		Use:   "show [--stack NAME]",
		Short: "Print the effective configuration and where each value came from",
		Long: `show prints every configuration key, its value and where it came from: flags,
PANKA_* environment variables, repository panka.yaml, ~/.panka/config.yaml or
defaults. With --stack it is the configuration commands on that stack use,
with the stack's own spec.backend settings from its stack.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := configShowConfig(f, stack)
			if err != nil {
				return err
			}
			// The lock set-ups every command that takes a lock refuses,
			// said where a platform engineer checks the set-up.
			for _, err := range []error{sharedLocksLocalState(cfg), personalLockTable(cfg)} {
				if err != nil {
					f.Warnf("apply, destroy, rollback, promote and state push/rm refuse this set-up: %v", err)
				}
			}
			vals := cfg.Values()
			f.showSDKSettings(c.Context(), cfg, vals)
			if f.JSON() {
				return f.PrintJSON(vals)
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tENV")
			for _, v := range vals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Key, v.Value, v.Source, v.Env)
			}
			return tw.Flush()
		},
	}
	show.Flags().StringVarP(&stack, "stack", "s", "", "include this stack's spec.backend settings (metadata.name)")
	cmd.AddCommand(show)
	return cmd
}

// configShowConfig is the configuration without stack settings, or with
// those of the stack named stack (which must exist and load).
func configShowConfig(f *Factory, stack string) (*config.Resolved, error) {
	if stack == "" {
		return f.Config()
	}
	repo, err := openStackRepo(f)
	if err != nil {
		return nil, err
	}
	defer repo.close()
	disc, derr := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
	ref, err := findStack(disc, stack, repo.stacksRoot)
	if err != nil {
		if derr == nil && len(disc.Refs) == 0 {
			if werr := repo.whyNoStacks(f); werr != nil {
				return nil, werr
			}
		}
		if derr != nil && disc.Duplicates[stack] == nil {
			return nil, fmt.Errorf("%w\n%w", err, derr)
		}
		return nil, err
	}
	h, err := stacks.ReadHeader(repo.fsys, ref.Path)
	if err != nil {
		return nil, err
	}
	return f.configForHeader(h, path.Join(h.Path, stacks.StackFile))
}

// showSDKSettings fills, in vals, what the AWS SDK decides where no panka
// key does. The regions no key sets (backend.region, locks.region) are the
// region the SDK gives the clients then, with where it comes from:
// AWS_REGION, AWS_DEFAULT_REGION or the AWS profile's region. config show
// printed them empty with the source "default" while every request went
// to that region. backend.usePathStyle is true, as the client addresses
// the bucket, when the AWS profile's endpoint_url is the bucket's custom
// endpoint. Display only: the configuration keeps its values. A
// configuration the SDK cannot load leaves them as they are; commands
// that use AWS say why.
func (f *Factory) showSDKSettings(ctx context.Context, cfg *config.Resolved, vals []config.Value) {
	ac, err := f.AWSConfig(ctx, cfg)
	if err != nil {
		return
	}
	pathStyle := ""
	if ep := f.endpointOf(ctx, cfg, ac, "backend.endpoint", "S3"); s3PathStyle(cfg, ep) && !cfg.Backend.UsePathStyle {
		pathStyle = ep.From
	}
	from := "the AWS SDK's configuration"
	switch {
	case ac.Region == "":
	case f.Getenv("AWS_REGION") == ac.Region:
		from = "AWS_REGION"
	case f.Getenv("AWS_DEFAULT_REGION") == ac.Region:
		from = "AWS_DEFAULT_REGION"
	default:
		for _, src := range ac.ConfigSources {
			if sc, ok := src.(awsconfig.SharedConfig); ok && sc.Region == ac.Region {
				from = fmt.Sprintf("the region of AWS profile %q", sc.Profile)
				break
			}
		}
	}
	for i, v := range vals {
		switch {
		case (v.Key == "backend.region" || v.Key == "locks.region") && v.Value == "" && ac.Region != "":
			vals[i].Value = ac.Region
			vals[i].Source = config.Source{Layer: "aws-sdk", Where: from}.String()
		case v.Key == "backend.usePathStyle" && pathStyle != "":
			vals[i].Value = "true"
			vals[i].Source = config.Source{Layer: "default", Where: "implied by the custom endpoint " + pathStyle}.String()
		}
	}
}
