package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/stacks"
)

// GlobalFlags are the flags every command takes (SPEC §8).
type GlobalFlags struct {
	Verbose       int
	Quiet         bool
	ConfigFile    string
	BackendBucket string
	BackendRegion string
	LockTable     string
	NoColor       bool
	Output        string
	LogFormat     string
	Chdir         string
}

// Factory carries what commands need: streams, clock, environment, and
// lazily built configuration. It holds no service clients itself; commands
// build them from the configuration through the constructors below.
type Factory struct {
	IO      *IOStreams
	Now     func() time.Time
	Environ func() []string
	Getwd   func() (string, error)
	Home    func() (string, error)
	Flags   GlobalFlags
	Log     zerolog.Logger
	// AWSResponseTimeout bounds the wait for a response to each AWS
	// request (0: DefaultAWSResponseTimeout).
	AWSResponseTimeout time.Duration
	// AWSRequestTimeout bounds each AWS request as a whole, its answer's
	// body included (0: DefaultAWSRequestTimeout, or twice
	// AWSResponseTimeout when that is longer).
	AWSRequestTimeout time.Duration
	// StateProbeEvery and StateStallLimit tune the watch of the S3 state
	// server during engine runs (0: DefaultStateProbeEvery,
	// DefaultStateStallLimit; see watchStateServer).
	StateProbeEvery, StateStallLimit time.Duration
	// FakeClock says Now is a test's clock that time passes on: lease
	// times in DynamoDB and S3 follow it as it is, not the lock server's
	// clock (locker.ServerClock), which would undo its moves.
	FakeClock bool

	// ignoredSaid holds the gitignored paths a warning already named
	// (see warnIgnored): several reads of the work tree, one warning.
	ignoredMu   sync.Mutex
	ignoredSaid map[string]bool

	// flagKeys maps config keys set by global flags.
	flagKeys  map[string]string
	flagNames map[string]string
	// notRequired resolves the configuration with
	// config.Layers.NotRequired: the pre-push hook's, and that of
	// validate, show and changed (without --since-deployed).
	notRequired bool

	// jsonLog, with --log-format json, writes notices and the final error
	// as JSON log lines, whatever the log level (they are not logs that a
	// level hides: text mode prints them too).
	jsonLog *zerolog.Logger
	// fileLog writes to logging.file (rotated), nil when it is not set:
	// the logs, warnings and errors of every run, at logging.level.
	fileLog *zerolog.Logger
	// logSetUp is set once setupLogging has run.
	logSetUp bool
	// intr is what a Ctrl-C says (interrupt.go).
	intr interruptNotes

	// tookOver holds, by lock key, the holder of each lease this run took
	// over from a process that no longer ran (acquireLease), for the
	// deployment record (takenOver).
	tookOver sync.Map

	// cfgMu serialises ConfigForStack (it reads files and may turn colour
	// off): commands resolve stacks' configurations concurrently.
	cfgMu sync.Mutex

	// secretKey keys the hashes of secret values (planSecretKey).
	secretKeyOnce sync.Once
	secretKey     []byte
	// unkeyedOnce: warnUnkeyedSecrets warns once a run.
	unkeyedOnce sync.Once
	// unusedLocksEndpoint: Locker warns once a run of a locks.endpoint
	// that locks other than DynamoDB's leave unused.
	unusedLocksEndpoint sync.Once
	// unusedBackendEndpoint: Store warns once a run of a backend.endpoint
	// that the local backend leaves unused.
	unusedBackendEndpoint sync.Once
	// headers are findHeader's answers by stack, and headersDisc the
	// discovery of the work tree's stacks they come from, for the run.
	headersMu   sync.Mutex
	headers     map[string]foundHeader
	headersDisc *discovered
	// headersRepo is the work tree view headersDisc was read from, open
	// for the run (closed by Run when the command returns): opening it
	// reads the whole staging index, and plan --all-changed asks for
	// thousands of stacks.
	headersRepo *stackRepo
	// history is the walk back over HEAD's first parents that the checks
	// of where a stack's state was before share (stackHistory), read once
	// a run (historyRead) and open until Run returns.
	historyMu   sync.Mutex
	historyRead bool
	history     *stackHistory
	// stackNames are the records of the work tree's stack names
	// (quickStack) read this run, by record file: checked once, since
	// the work tree does not change under a command (nil: not usable).
	stackNames sync.Map // string -> map[string]string
	// diskNow is the file system's clock (time.Now when nil), which
	// saveStackNames compares change times with: a test moves it on
	// rather than wait for its files to stop being racy. Not Now, which
	// tests set to the lock server's or a fixed date.
	diskNow func() time.Time
	// committedBackendSaid: the stacks whose committed spec.backend
	// findHeader said it used (once a run each).
	committedBackendSaid sync.Map
	// storeSources: where the backend.bucket of each S3 bucket and the
	// locks.table of each lock table opened was set (config.Source), for
	// the error of one that does not exist (withStoreSource).
	storeSources sync.Map
	// unanswered: the backends (describeBackend) that overriddenBackendState
	// could not read, asked once per run: plan --all-changed asks for
	// every new environment, and each would wait out the time limit.
	unanswered sync.Map

	once    sync.Once
	workDir string
	repo    string
	wdErr   error
}

// NewFactory returns a Factory for the real process.
func NewFactory(io *IOStreams) *Factory {
	return &Factory{IO: io, Now: time.Now, Environ: os.Environ, Getwd: os.Getwd, Home: os.UserHomeDir, Log: zerolog.Nop()}
}

// Getenv returns one variable of the process environment.
func (f *Factory) Getenv(name string) string {
	prefix := name + "="
	for _, kv := range f.Environ() {
		if strings.HasPrefix(kv, prefix) {
			return kv[len(prefix):]
		}
	}
	return ""
}

// Notices is where progress and informational lines go: stderr, or
// nowhere with -q (which leaves only errors and warnings on stderr); and
// logging.file, if set.
func (f *Factory) Notices() io.Writer {
	var w io.Writer
	switch {
	case f.Flags.Quiet:
		w = io.Discard
	case f.jsonLog != nil:
		w = logLines{f.jsonLog}
	default:
		w = f.IO.ErrOut
	}
	if f.fileLog != nil {
		w = io.MultiWriter(w, logLines{f.fileLog})
	}
	return w
}

// Warnf reports something the user should know that does not stop the
// command: "Warning: ..." on stderr, a warn-level JSON line with
// --log-format json, nothing with -q (only errors).
func (f *Factory) Warnf(format string, args ...any) {
	if f.Flags.Quiet {
		return
	}
	msg := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	if f.fileLog != nil {
		f.fileLog.Warn().Msg(msg)
	}
	if f.jsonLog != nil {
		f.jsonLog.Warn().Msg(msg)
		return
	}
	fmt.Fprintf(f.IO.ErrOut, "Warning: %s\n", stacks.EscapeInvalid(msg))
}

// Errorf reports an error about one item of a command that goes on with the
// others (and then fails): "Error: ..." on stderr, an error-level JSON line
// with --log-format json.
func (f *Factory) Errorf(format string, args ...any) {
	msg := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	if f.fileLog != nil {
		f.fileLog.Error().Msg(msg)
	}
	if f.jsonLog != nil {
		f.jsonLog.Error().Msg(msg)
		return
	}
	fmt.Fprintf(f.IO.ErrOut, "Error: %s\n", stacks.EscapeInvalid(msg))
}

// logLines writes each line given to it as an info log line, so that with
// --log-format json stderr holds nothing but JSON.
type logLines struct{ log *zerolog.Logger }

func (w logLines) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(string(p), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.log.Info().Msg(line)
		}
	}
	return len(p), nil
}

// JSON reports whether -o json was asked for.
func (f *Factory) JSON() bool { return f.Flags.Output == "json" }

// PrintJSON writes v as indented JSON to stdout.
func (f *Factory) PrintJSON(v any) error {
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WorkDir is the directory panka runs in (after -C).
func (f *Factory) WorkDir() (string, error) {
	f.resolveDirs()
	return f.workDir, f.wdErr
}

// UserPath resolves a file path given on the command line (or in PANKA_CONFIG)
// against WorkDir, so that -C DIR reads and writes files "as if panka was
// started in DIR", as --var-file and state push FILE already do. Absolute
// paths, "" and "-" (stdin) are returned as given.
func (f *Factory) UserPath(p string) (string, error) {
	if p == "" || p == "-" || filepath.IsAbs(p) {
		return p, nil
	}
	wd, err := f.WorkDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(wd, p), nil
}

// RepoRoot is the root of the git work tree containing WorkDir, or WorkDir
// itself outside git. It holds panka.yaml, the stacks root and .panka/.
func (f *Factory) RepoRoot() (string, error) {
	f.resolveDirs()
	return f.repo, f.wdErr
}

func (f *Factory) resolveDirs() {
	f.once.Do(func() {
		if f.Getwd == nil {
			f.wdErr = errors.New("find the working directory: no Getwd")
			return
		}
		// An absolute -C needs no working directory: a CI step whose
		// folder was removed under it can still name the repository.
		var wd string
		if !filepath.IsAbs(f.Flags.Chdir) {
			var err error
			if wd, err = f.Getwd(); err != nil {
				f.wdErr = fmt.Errorf("find the working directory: %w: the folder panka was started in was removed or cannot be read; cd to the repository again, or pass -C with its absolute path", err)
				return
			}
		}
		if f.Flags.Chdir != "" {
			wd = filepath.Join(wd, f.Flags.Chdir)
			if filepath.IsAbs(f.Flags.Chdir) {
				wd = f.Flags.Chdir
			}
			switch st, err := os.Stat(wd); {
			case errors.Is(err, fs.ErrNotExist):
				f.wdErr = fmt.Errorf("-C %s: no such folder", f.Flags.Chdir)
				return
			case err != nil:
				f.wdErr = fmt.Errorf("-C %s: %w", f.Flags.Chdir, err)
				return
			case !st.IsDir():
				f.wdErr = fmt.Errorf("-C %s: not a folder (a file): name the folder to run in", f.Flags.Chdir)
				return
			}
		}
		f.workDir = wd
		f.repo = wd
		for d := wd; ; {
			if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
				f.repo = d
				return
			}
			parent := filepath.Dir(d)
			if parent == d {
				return
			}
			d = parent
		}
	})
}

// Config resolves the configuration without stack-level settings.
func (f *Factory) Config() (*config.Resolved, error) { return f.ConfigForStack(nil, "") }

// ConfigForStack resolves the configuration with a stack's spec.backend keys
// ("backend.bucket" -> value) from stackFile.
func (f *Factory) ConfigForStack(stackKeys map[string]string, stackFile string) (*config.Resolved, error) {
	return f.configForStackLines(stackKeys, nil, stackFile, false, false)
}

// configForHeader is ConfigForStack with h's spec.backend keys, read from
// file: their sources name the line of each key.
func (f *Factory) configForHeader(h *stacks.Header, file string) (*config.Resolved, error) {
	return f.configForStackLines(h.Backend, h.BackendLines, file, false, false)
}

// configForStackLines resolves the configuration; with noBackendOverrides
// the backend.* keys that PANKA_BACKEND_* variables and flags set are left
// out, so its backend is the one the configuration files name; with
// noRepoFile the work tree's panka.yaml is not read.
func (f *Factory) configForStackLines(stackKeys map[string]string, lines map[string]int, stackFile string, noBackendOverrides, noRepoFile bool) (*config.Resolved, error) {
	return f.configWithRepoData(stackKeys, lines, stackFile, noBackendOverrides, noRepoFile, nil, "")
}

// configWithRepoData is configForStackLines with repoData, when not nil,
// read as the repository's panka.yaml (a committed version of it, named
// repoName in sources).
func (f *Factory) configWithRepoData(stackKeys map[string]string, lines map[string]int, stackFile string, noBackendOverrides, noRepoFile bool, repoData []byte, repoName string) (*config.Resolved, error) {
	f.cfgMu.Lock()
	defer f.cfgMu.Unlock()
	repo, err := f.RepoRoot()
	if err != nil {
		return nil, err
	}
	env, flags := f.Environ(), f.flagKeys
	if noBackendOverrides {
		env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "PANKA_BACKEND_") })
		flags = maps.Clone(flags)
		maps.DeleteFunc(flags, func(k, _ string) bool { return strings.HasPrefix(k, "backend.") })
	}
	l := config.Layers{RepoFile: filepath.Join(repo, repoConfigFile), Stack: stackKeys, StackFile: stackFile, StackLines: lines,
		Env: env, Flags: flags, FlagNames: f.flagNames, NotRequired: f.notRequired}
	if noRepoFile {
		l.RepoFile = ""
	} else if repoData != nil {
		l.RepoFile, l.RepoData = repoName, repoData
	}
	if f.Flags.ConfigFile != "" {
		p, err := f.UserPath(f.Flags.ConfigFile)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("--config %s: %w (fix the path, or create the file with `panka --config %s init`)", f.Flags.ConfigFile, err, f.Flags.ConfigFile)
		}
		l.UserFile = p
	} else if p := f.Getenv("PANKA_CONFIG"); p != "" {
		// Named on purpose, like --config: a missing file is an error,
		// never a silent fall back to the defaults (and .panka/ state).
		if p, err = f.UserPath(p); err != nil {
			return nil, err
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("PANKA_CONFIG %s: %w (fix the path, create the file with `panka init`, or unset PANKA_CONFIG)", f.Getenv("PANKA_CONFIG"), err)
		}
		l.UserFile = p
	} else if home, err := f.Home(); err == nil {
		l.UserFile = filepath.Join(home, ".panka", "config.yaml")
	}
	r, err := config.Resolve(l)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if !r.Preferences.ColorOutput {
		f.IO.DisableColor()
	}
	return r, nil
}

// setupLogging configures f.Log from flags, env and config.
func (f *Factory) setupLogging() {
	level := zerolog.WarnLevel
	switch {
	case f.Flags.Quiet:
		level = zerolog.ErrorLevel
	case f.Flags.Verbose >= 2:
		level = zerolog.TraceLevel
	case f.Flags.Verbose == 1:
		level = zerolog.DebugLevel
	}
	// logging.format and logging.level count from every layer of the
	// configuration (flags, PANKA_* env, panka.yaml, ~/.panka/config.yaml)
	// except the default level (info), which is the log file's: stderr
	// shows warnings unless asked. A configuration that does not resolve
	// is the command's error to report; the env vars still count.
	// The flag is read directly: this also runs from Run after a flag or
	// argument error, before the flags were mapped to keys.
	format, levelName := f.Flags.LogFormat, f.Getenv("PANKA_LOGGING_LEVEL")
	cfg, cfgErr := f.Config()
	if cfgErr == nil {
		if format == "" {
			format = cfg.Logging.Format
		}
		levelName = ""
		if cfg.Sources["logging.level"].Layer != "default" {
			levelName = cfg.Logging.Level
		}
	} else if format == "" {
		format = f.Getenv("PANKA_LOGGING_FORMAT")
	}
	var w io.Writer = f.IO.ErrOut
	if format != "json" {
		w = zerolog.ConsoleWriter{Out: f.IO.ErrOut, NoColor: !f.IO.ColorErr(), TimeFormat: "15:04:05"}
		f.jsonLog = nil
	} else {
		l := zerolog.New(f.IO.ErrOut).With().Timestamp().Logger()
		f.jsonLog = &l
	}
	if !f.Flags.Quiet && f.Flags.Verbose == 0 {
		if lv, err := zerolog.ParseLevel(levelName); err == nil && lv != zerolog.NoLevel {
			level = lv
		}
	}
	f.Log = zerolog.New(w).Level(level).With().Timestamp().Logger()
	if cfgErr == nil && cfg.Logging.File != "" {
		f.attachLogFile(cfg, w, level)
	}
	f.setInterruptLogs()
	f.logSetUp = true
}

// attachLogFile adds logging.file (rotated by size and age, as
// logging.maxSize/maxBackups/maxAge say) at logging.level to f.Log, whose
// stderr writer w keeps its own level.
func (f *Factory) attachLogFile(cfg *config.Resolved, w io.Writer, level zerolog.Level) {
	path := cfg.Logging.File
	if strings.HasPrefix(path, "~/") {
		if home, err := f.Home(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	if !filepath.IsAbs(path) {
		// Relative to the repository root, as backend.directory is: not to
		// wherever panka runs, which scattered log folders over the
		// repository (inside a stack folder they are a change of it).
		if root, err := f.RepoRoot(); err == nil {
			path = filepath.Join(root, path)
		}
	}
	// One warning naming the key when the file cannot be written, not a
	// "zerolog: could not write event" line for every event.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.Log.Warn().Err(err).Msgf("logging.file %s cannot be written: logging to stderr only", path)
		return
	}
	// A named pipe without a reader would block the open for ever (and
	// rotation renames the file): only a file is a log file.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f.Log.Warn().Msgf("logging.file %s is %s, not a file: logging to stderr only; set logging.file to a file", path, stacks.FileKind(st.Mode()))
		return
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		f.Log.Warn().Err(err).Msgf("logging.file %s cannot be written: logging to stderr only", path)
		return
	}
	_ = fh.Close()
	rot := &lumberjack.Logger{Filename: path, MaxSize: cfg.Logging.MaxSize, MaxBackups: cfg.Logging.MaxBackups, MaxAge: cfg.Logging.MaxAge}
	lv, err := zerolog.ParseLevel(cfg.Logging.Level)
	if err != nil || lv == zerolog.NoLevel {
		lv = zerolog.InfoLevel
	}
	file := zerolog.New(rot).Level(lv).With().Timestamp().Logger()
	f.fileLog = &file
	f.Log = zerolog.New(zerolog.MultiLevelWriter(
		&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: w}, Level: level},
		&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: rot}, Level: lv},
	)).Level(min(level, lv)).With().Timestamp().Logger()
}

// contextKey for values carried in command contexts.
type contextKey int

// Context returns the command context or Background.
func Context(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
