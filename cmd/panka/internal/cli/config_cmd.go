package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect panka's configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			vals := cfg.Values()
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
	})
	return cmd
}
