package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	ddblocker "panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/stacks"
	s3store "panka.dev/panka/statestore/s3"
)

func init() { register(newCmdInit) }

// InitOptions are the inputs of `panka init`.
type InitOptions struct {
	F           *Factory
	BackendType string
	Region      string
	Bucket      string
	Table       string
	Profile     string
	Force       bool
	// given records which values came from flags (never prompted for).
	given map[string]bool
}

func newCmdInit(f *Factory) *cobra.Command {
	opts := &InitOptions{F: f}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write your user configuration (~/.panka/config.yaml)",
		Long: `init writes ~/.panka/config.yaml (or --config / PANKA_CONFIG). On a terminal it
asks for every value not given as a flag; without a terminal it never prompts and
uses the flags alone. With no backend settings panka keeps state and locks in
.panka/ next to the repository. An existing file is only replaced with --force.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// The global seed flags name the same keys (SPEC §8): a
			// config written without them would silently be another one.
			for global, local := range map[string]*string{"backend-bucket": &opts.Bucket, "backend-region": &opts.Region, "lock-table": &opts.Table} {
				g := c.Flags().Lookup(global)
				name := strings.TrimPrefix(strings.TrimPrefix(global, "backend-"), "lock-")
				if g == nil || !g.Changed {
					continue
				}
				if c.Flags().Changed(name) && *local != g.Value.String() {
					return Usagef("--%s %q and --%s %q disagree: give one of them", global, g.Value, name, *local)
				}
				*local = g.Value.String()
				c.Flags().Lookup(name).Changed = true
			}
			opts.given = map[string]bool{}
			for _, n := range []string{"backend-type", "region", "bucket", "table", "profile"} {
				opts.given[n] = c.Flags().Changed(n)
			}
			return initRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.BackendType, "backend-type", "", "state backend: s3 or local (default: s3 when --bucket is set, else local)")
	fl.StringVar(&opts.Region, "region", "", "AWS region of the state bucket and lock table")
	fl.StringVar(&opts.Bucket, "bucket", "", "S3 bucket for state")
	fl.StringVar(&opts.Table, "table", "", "DynamoDB table for locks (default: an S3 lock object next to the state)")
	fl.StringVar(&opts.Profile, "profile", "", "AWS shared-config profile")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing configuration file")
	return cmd
}

// regionRe is the shape of an AWS region name: the SDK's partitions name
// regions from a prefix of two letters (us-east-1, cn-north-1,
// us-gov-west-1) up to four (eusc-de-east-1, the European Sovereign Cloud).
var regionRe = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]+$`)

// userConfigPath is where init writes: --config, PANKA_CONFIG or ~/.panka/config.yaml.
func userConfigPath(f *Factory) (string, error) {
	if f.Flags.ConfigFile != "" {
		return f.UserPath(f.Flags.ConfigFile)
	}
	if p := f.Getenv("PANKA_CONFIG"); p != "" {
		return f.UserPath(p)
	}
	home, err := f.Home()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w (pass --config FILE)", err)
	}
	if st, err := os.Stat(home); err == nil && !st.IsDir() {
		// HOME=/dev/null (service accounts, hermetic builds): the
		// advice for a file in the way, "move it away", would name
		// /dev/null.
		return "", fmt.Errorf("the home directory %s (HOME) is not a folder, so there is no ~/.panka/config.yaml to write: pass --config FILE (or set PANKA_CONFIG), or set HOME to a folder", home)
	}
	return filepath.Join(home, ".panka", "config.yaml"), nil
}

func initRun(opts *InitOptions) error {
	f := opts.F
	p, err := userConfigPath(f)
	if err != nil {
		return err
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		// --force cannot replace a folder: it was offered, then failed
		// with "rename ...: file exists".
		return fmt.Errorf("%s is a folder, not a configuration file: name a file (e.g. --config %s)", p, filepath.Join(p, "config.yaml"))
	} else if err == nil && !st.Mode().IsRegular() {
		// The file is replaced by a rename, which would replace the
		// node itself: as root, `--config /dev/stdout init --force`
		// turned /dev/stdout into a plain file for every process.
		return fmt.Errorf("%s is %s, not a file: the configuration is a YAML file; pass --config with a file name", p, stacks.FileKind(st.Mode()))
	}
	if t, err := filepath.EvalSymlinks(p); err == nil && t != p {
		// A link (a dotfiles manager's ~/.panka/config.yaml): the new
		// file goes where it points, not over the link.
		p = t
	}
	if _, err := os.Stat(p); err == nil && !opts.Force {
		if _, lerr := config.Resolve(config.Layers{UserFile: p, Env: f.Environ()}); lerr != nil {
			// `panka config show` fails on the same file: say what is
			// wrong with it instead of pointing there.
			return fmt.Errorf("%s already exists but panka cannot use it: %w; fix it, or pass --force to replace it with a new one", p, lerr)
		}
		return fmt.Errorf("%s already exists: pass --force to replace it (see the current settings with `panka config show`)", p)
	}
	if f.IO.CanPrompt() {
		if err := opts.prompt(); err != nil {
			return err
		}
	}
	if opts.BackendType == "" {
		opts.BackendType = "local"
		if opts.Bucket != "" {
			opts.BackendType = "s3"
		}
	}
	switch opts.BackendType {
	case "local":
		if opts.Bucket != "" {
			return Usagef("--bucket needs --backend-type s3")
		}
		if opts.Table != "" {
			// Local state lives in one checkout's .panka/: a shared lock
			// table would guard state nobody else sees.
			return Usagef("--table %q needs an S3 backend: DynamoDB locks guard state shared in a bucket (add --bucket NAME), while local state in .panka/ is locked with files there (drop --table)", opts.Table)
		}
	case "s3":
		if opts.Bucket == "" {
			return Usagef("--backend-type s3 needs --bucket")
		}
	default:
		return Usagef("--backend-type %q: use s3 or local", opts.BackendType)
	}
	if opts.Region != "" && !regionRe.MatchString(opts.Region) {
		return Usagef("--region %q is not an AWS region (e.g. us-east-1)", opts.Region)
	}
	// As backend create checks them: a name S3 or DynamoDB refuses would
	// be written, and every later command would fail on it.
	if opts.Bucket != "" {
		if err := s3store.CheckBucketName(opts.Bucket); err != nil {
			return Usagef("--bucket %v", err)
		}
	}
	if opts.Table != "" {
		if err := ddblocker.CheckTableName(opts.Table); err != nil {
			return Usagef("--table %v", err)
		}
	}
	content := opts.render()
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	// Check what we wrote with the same code that will read it.
	r, err := config.Resolve(config.Layers{UserFile: tmp.Name()})
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return fmt.Errorf("the new configuration is invalid (nothing written): %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if f.JSON() {
		if err := f.PrintJSON(struct {
			Path string `json:"path"`
		}{p}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(f.IO.Out, "wrote %s\n", p)
	}
	fmt.Fprintln(f.Notices(), "check it with `panka config show`")
	return nil
}

// prompt asks for every value not given as a flag.
func (opts *InitOptions) prompt() error {
	f := opts.F
	in := bufio.NewReader(f.IO.In)
	// ask asks until check accepts the answer (each refusal said on the
	// terminal), so a typo is fixed where it was typed, not reported as a
	// flag after every question was answered.
	ask := func(flag, question, def string, dst *string, check func(string) error) error {
		if opts.given[flag] {
			return nil
		}
		for {
			if def != "" {
				fmt.Fprintf(f.IO.ErrOut, "%s [%s]: ", question, def)
			} else {
				fmt.Fprintf(f.IO.ErrOut, "%s: ", question)
			}
			line, err := in.ReadString('\n')
			if errors.Is(err, io.EOF) && line == "" {
				// Ctrl-D, or piped answers that ran out: "read answer:
				// EOF" said neither which question nor what now.
				fmt.Fprintln(f.IO.ErrOut)
				return fmt.Errorf("no answer to %q (the input ended): nothing was written; run panka init again, or give the values as flags (--backend-type, --bucket, --region, --table, --profile)", question)
			}
			if err != nil && line == "" {
				return fmt.Errorf("read answer: %w", err)
			}
			line = strings.TrimSpace(line)
			if line == "" {
				line = def
			}
			if check != nil {
				if err := check(line); err != nil {
					fmt.Fprintf(f.IO.ErrOut, "  %v\n", err)
					continue
				}
			}
			*dst = line
			return nil
		}
	}
	def := opts.BackendType
	if def == "" {
		// As without a terminal: a bucket given means s3 (and a table
		// needs one), so the default offered must not refuse the flags.
		def = "local"
		if opts.Bucket != "" || opts.Table != "" {
			def = "s3"
		}
	}
	backendType := func(v string) error {
		// "S3", as the questions after it write it, is s3: refused,
		// the bucket typed next was read as the backend, and an Enter
		// then wrote a local configuration.
		if v := strings.ToLower(v); v != "s3" && v != "local" {
			return fmt.Errorf("%q: answer s3 or local", v)
		}
		return nil
	}
	if err := ask("backend-type", "State backend (s3 or local)", def, &opts.BackendType, backendType); err != nil {
		return err
	}
	opts.BackendType = strings.ToLower(opts.BackendType)
	if opts.BackendType != "s3" {
		return nil
	}
	bucket := func(v string) error {
		if v == "" {
			return errors.New("an s3 backend needs a bucket")
		}
		return s3store.CheckBucketName(v)
	}
	region := func(v string) error {
		if v != "" && !regionRe.MatchString(v) {
			return fmt.Errorf("%q is not an AWS region (e.g. us-east-1)", v)
		}
		return nil
	}
	table := func(v string) error {
		if v == "" {
			return nil
		}
		return ddblocker.CheckTableName(v)
	}
	steps := []struct {
		flag, q, def string
		dst          *string
		check        func(string) error
	}{
		{"bucket", "S3 bucket for state", opts.Bucket, &opts.Bucket, bucket},
		{"region", "AWS region", or(opts.Region, or(f.Getenv("AWS_REGION"), or(f.Getenv("AWS_DEFAULT_REGION"), "us-east-1"))), &opts.Region, region},
		{"table", "DynamoDB table for locks (empty: S3 lock objects)", opts.Table, &opts.Table, table},
		{"profile", "AWS profile (empty: default credential chain)", opts.Profile, &opts.Profile, nil},
	}
	for _, s := range steps {
		if err := ask(s.flag, s.q, s.def, s.dst, s.check); err != nil {
			return err
		}
	}
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// render writes the configuration file, commented.
func (opts *InitOptions) render() string {
	var b strings.Builder
	b.WriteString("# panka user configuration (written by `panka init`).\n")
	b.WriteString("# Priority: flags > PANKA_* env > stack.yaml spec.backend > repo panka.yaml > this file > defaults.\n")
	b.WriteString("version: v1\n")
	b.WriteString("backend:\n")
	fmt.Fprintf(&b, "  type: %s\n", opts.BackendType)
	if opts.Bucket != "" {
		fmt.Fprintf(&b, "  bucket: %s\n", config.QuoteYAML(opts.Bucket))
	}
	if opts.Region != "" && opts.BackendType == "s3" {
		fmt.Fprintf(&b, "  region: %s\n", opts.Region)
	}
	if opts.Table != "" {
		b.WriteString("locks:\n  type: dynamodb\n")
		fmt.Fprintf(&b, "  table: %s\n", config.QuoteYAML(opts.Table))
		if opts.Region != "" {
			fmt.Fprintf(&b, "  region: %s\n", opts.Region)
		}
	}
	if opts.Profile != "" || opts.Region != "" {
		b.WriteString("aws:\n")
		if opts.Profile != "" {
			fmt.Fprintf(&b, "  profile: %s\n", config.QuoteYAML(opts.Profile))
		}
		if opts.Region != "" {
			fmt.Fprintf(&b, "  region: %s\n", opts.Region)
		}
	}
	return b.String()
}
