package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Binary is the name of the engine helper program.
const Binary = "panka-engine"

// ErrBinaryNotFound is returned (wrapped) when panka-engine cannot be found.
var ErrBinaryNotFound = errors.New("panka-engine not found")

// FindBinary returns the engine helper: next to the running panka binary
// first (they ship together), else on PATH.
func FindBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), Binary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(Binary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w next to panka or on PATH: it ships with panka (make build puts both in bin/)", ErrBinaryNotFound)
}

// Client is a session with a panka-engine process. Its methods must not be
// called concurrently.
type Client struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	mu     sync.Mutex
	closed bool
	// grace is how long the helper has to stop once interrupted.
	grace time.Duration
	// log passes the helper's stderr on to Options.Stderr (nil: none).
	log *lineWriter
}

// DefaultStopGrace is how long an interrupted panka-engine has to stop
// cleanly (Pulumi cancelled, its checkpoint written) before it is killed.
const DefaultStopGrace = 2 * time.Minute

// Options configure Start.
type Options struct {
	// Binary is the panka-engine path (default FindBinary).
	Binary string
	// Stderr receives the helper's diagnostics as they come, a whole line
	// (or several) a write (may be nil); the last lines are also kept for
	// error messages.
	Stderr io.Writer
	// Env is the helper's environment (default: the process's).
	Env []string
	// StopGrace is how long the helper has to stop once interrupted
	// before it is killed (0: DefaultStopGrace).
	StopGrace time.Duration
}

// Start launches panka-engine and opens a session for req: the helper
// prepares the Pulumi workspace and stack before Start returns.
func Start(ctx context.Context, req Request, opts Options) (*Client, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	req.Protocol = ProtocolVersion
	cmd := exec.Command(bin)
	cmd.Env = opts.Env
	tail := &tailBuffer{max: 16 << 10}
	var log *lineWriter
	if opts.Stderr != nil {
		log = &lineWriter{w: opts.Stderr}
		cmd.Stderr = io.MultiWriter(log, tail)
	} else {
		cmd.Stderr = tail
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// A Ctrl-C on the terminal reaches only panka, which forwards it, so the
	// helper is never interrupted twice; and the helper stops when panka dies.
	if err := StartChild(cmd, syscall.SIGTERM); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	grace := opts.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	c := &Client{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20), stderr: tail, grace: grace, log: log}
	if err := c.send(req); err != nil {
		c.Close()
		return nil, err
	}
	msg, err := c.wait(ctx, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if !msg.Ready {
		c.Close()
		return nil, fmt.Errorf("panka-engine: unexpected first message %+v", msg)
	}
	return c, nil
}

func (c *Client) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("talk to panka-engine: %w%s", err, c.stderr.hint())
	}
	return nil
}

// wait reads messages until Done (or Ready), forwarding events. When ctx is
// cancelled the helper gets SIGINT and is given time to stop Pulumi cleanly.
func (c *Client) wait(ctx context.Context, onEvent func(Event)) (*Message, error) {
	stop := make(chan struct{})
	defer close(stop)
	var killed atomic.Bool
	go func() {
		select {
		case <-ctx.Done():
			_ = c.cmd.Process.Signal(os.Interrupt)
			select {
			case <-stop:
			case <-time.After(c.grace):
				killed.Store(true)
				_ = c.cmd.Process.Kill()
			}
		case <-stop:
		}
	}()
	for {
		line, err := c.out.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var m Message
			if jerr := json.Unmarshal(line, &m); jerr != nil {
				return nil, fmt.Errorf("panka-engine sent %q: %w", truncate(string(line), 200), jerr)
			}
			switch {
			case m.Event != nil:
				if onEvent != nil {
					onEvent(*m.Event)
				}
				continue
			case m.Ready:
				return &m, nil
			case m.Done:
				if m.Error != "" {
					if m.Canceled {
						return &m, canceledError(m.Error)
					}
					switch {
					case m.Protected != nil:
						return &m, &typedRunError{msg: m.Error, err: m.Protected}
					case m.MissingPlugin != nil:
						return &m, &typedRunError{msg: m.Error, err: m.MissingPlugin}
					case m.Passphrase != nil:
						return &m, &typedRunError{msg: m.Error, err: m.Passphrase}
					case m.PulumiBusy != nil:
						return &m, &typedRunError{msg: m.Error, err: m.PulumiBusy}
					}
					return &m, errors.New(m.Error)
				}
				return &m, nil
			}
			continue
		}
		if err != nil {
			werr := c.cmd.Wait()
			c.log.flush()
			c.closed = true
			if ctx.Err() != nil {
				// Said in words: "panka-engine stopped: context canceled"
				// did not say that the engine was killed, nor what that leaves.
				if killed.Load() {
					return nil, &stoppedError{err: ctx.Err(), msg: fmt.Sprintf("panka-engine did not stop within %s of being interrupted and was killed: "+
						"the step it was running may be left half-done, and Pulumi's lock and pending operations left behind (the next run under the lease clears them)", c.grace)}
				}
				return nil, &stoppedError{err: ctx.Err(), msg: "panka-engine ended after being interrupted, before reporting how the run ended"}
			}
			return nil, fmt.Errorf("panka-engine exited unexpectedly (%v)%s", werr, c.stderr.hint())
		}
	}
}

func (c *Client) do(ctx context.Context, op string, onEvent func(Event)) (*Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("panka-engine session is closed")
	}
	if err := c.send(Command{Op: op}); err != nil {
		return nil, err
	}
	return c.wait(ctx, onEvent)
}

// RecoverStale clears what a killed run left behind (call only under panka's lease).
func (c *Client) RecoverStale(ctx context.Context) (*Recovery, error) {
	m, err := c.do(ctx, OpRecover, nil)
	if m == nil {
		return nil, err
	}
	// What it cleared before it failed, with the error: the caller keeps
	// it (deploy.KeepRecovery), as the next run finds it gone.
	return m.Recovery, err
}

func (c *Client) result(ctx context.Context, op string, onEvent func(Event)) (*Result, error) {
	m, err := c.do(ctx, op, onEvent)
	if m != nil && m.Result != nil {
		return m.Result, err
	}
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// Up deploys the desired model.
func (c *Client) Up(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return c.result(ctx, OpUp, onEvent)
}

// Preview computes what Up would do.
func (c *Client) Preview(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return c.result(ctx, OpPreview, onEvent)
}

// PreviewRefresh computes what Up would do after a refresh from the real
// resources (nothing is changed): how an apply puts drift back.
func (c *Client) PreviewRefresh(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return c.result(ctx, OpPreviewRefresh, onEvent)
}

// Destroy deletes every resource of the stack.
func (c *Client) Destroy(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return c.result(ctx, OpDestroy, onEvent)
}

// RefreshPreview reports drift without changing state.
func (c *Client) RefreshPreview(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return c.result(ctx, OpRefreshPreview, onEvent)
}

// Refresh updates Pulumi's state from the real resources.
func (c *Client) Refresh(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return c.result(ctx, OpRefresh, onEvent)
}

// Outputs returns the stack outputs.
func (c *Client) Outputs(ctx context.Context) (map[string]Output, error) {
	m, err := c.do(ctx, OpOutputs, nil)
	if err != nil {
		return nil, err
	}
	return m.Outputs, nil
}

// Health checks what Up deployed: the local target reads every manifest
// back; the aws target waits for its ECS services to reach a steady state.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, OpHealth, nil)
	return err
}

// Close ends the session and waits for the helper to exit.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	_ = c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	defer c.log.flush()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		return <-done
	}
}

// lineWriter passes whole lines on to w and keeps a last line without its
// newline until the newline comes (or flush): what else writes to w (panka's
// stderr: the progress lines, panka's own log) then goes between the
// helper's lines, never into one. Pulumi writes a line's text and its
// newline apart, and a progress line was printed in the middle of its
// "~ web updating (0s) [diff: ~spec]".
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// maxPartialLine bounds what lineWriter keeps of a line without newline.
const maxPartialLine = 64 << 10

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	n := bytes.LastIndexByte(l.buf, '\n') + 1
	if n == 0 && len(l.buf) < maxPartialLine {
		return len(p), nil
	}
	if n == 0 {
		n = len(l.buf)
	}
	_, err := l.w.Write(l.buf[:n])
	l.buf = append(l.buf[:0], l.buf[n:]...)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush writes what is left of a last line, ended (nil l: nothing).
func (l *lineWriter) flush() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		_, _ = l.w.Write(append(l.buf, '\n'))
		l.buf = nil
	}
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) hint() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.buf)
	if len(s) == 0 {
		return ""
	}
	return ":\n" + string(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// canceledError is the engine's error for a cancelled operation, as it
// worded it (it says it was interrupted), for errors.Is(err,
// context.Canceled) without Go's "context canceled" appended to the text.
type canceledError string

func (e canceledError) Error() string { return string(e) }
func (e canceledError) Unwrap() error { return context.Canceled }

// stoppedError is a helper that ended without reporting, after ctx ended
// (err): msg says so without Go's "context canceled".
type stoppedError struct {
	msg string
	err error
}

func (e *stoppedError) Error() string { return e.msg }
func (e *stoppedError) Unwrap() error { return e.err }

// typedRunError is an engine error as the engine worded it, with the typed
// error the protocol carried (*ProtectedError, *MissingPluginError) for
// errors.As.
type typedRunError struct {
	msg string
	err error
}

func (e *typedRunError) Error() string { return e.msg }
func (e *typedRunError) Unwrap() error { return e.err }
