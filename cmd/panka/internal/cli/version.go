package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// Build information, set with -ldflags "-X panka.dev/panka/cmd/panka/internal/cli.version=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// BuildInfo describes this binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// line is the build information as `panka version` prints it after
// "panka ".
func (b BuildInfo) line() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s, %s)", b.Version, b.Commit, b.Date, b.GoVersion, b.Platform)
}

// Build returns this binary's build information.
func Build() BuildInfo {
	return BuildInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func newCmdVersion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print panka's version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := Build()
			if f.JSON() {
				return f.PrintJSON(b)
			}
			fmt.Fprintf(f.IO.Out, "panka %s\n", b.line())
			return nil
		},
	}
}
