package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Number and duration flags. pflag's own report a bad value with Go's
// parser errors ("strconv.ParseInt: parsing "abc": invalid syntax", "time:
// missing unit in duration "5""); these say what the flag wants instead.
// pflag puts the flag and the value in front: invalid argument "abc" for
// "--to-version" flag: not a whole number; give ...

// durationValue is a duration flag that, like the config's durations
// (locks.ttl: PANKA_LOCKS_TTL=5 is five seconds), takes a bare number as
// seconds. The flags are times to wait: a negative one is refused.
type durationValue time.Duration

// durationVar defines a duration flag (see durationValue).
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

func (d *durationValue) Set(s string) error {
	const want = "give seconds (90) or a number with a unit (90s, 10m, 1h30m)"
	// Spaces around it mean nothing (a CI variable with a stray one,
	// --lock-timeout " 10s"), as around a ref.
	s = strings.TrimSpace(s)
	var v time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n < 0:
			v = -1
		case n > math.MaxInt64/int64(time.Second):
			return fmt.Errorf("too long; %s", want)
		default:
			v = time.Duration(n) * time.Second
		}
	} else if v, err = time.ParseDuration(s); err != nil {
		return fmt.Errorf("not a duration; %s", want)
	}
	if v < 0 {
		return fmt.Errorf("negative; %s, or 0 not to wait", want)
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string { return "duration" }

// String is "0" for zero, so help does not print "(default 0s)".
func (d *durationValue) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

// intValue is a whole-number flag whose error says what the number is for
// (want, e.g. "the state serial of a deployment, e.g. --to-version 12").
type intValue[T int | int64] struct {
	p    *T
	want string
}

// intVarP defines an int or int64 flag; want completes "give ..." in the
// error for a value that is not a whole number.
func intVarP[T int | int64](fs *pflag.FlagSet, p *T, name, shorthand string, value T, usage, want string) {
	*p = value
	fs.VarP(&intValue[T]{p: p, want: want}, name, shorthand, usage)
}

func (v *intValue[T]) Set(s string) error {
	var zero T
	bits := 64
	if _, ok := any(zero).(int); ok {
		bits = strconv.IntSize
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("too large a number; give %s", v.want)
	}
	if err != nil {
		return fmt.Errorf("not a whole number; give %s", v.want)
	}
	*v.p = T(n)
	return nil
}

func (v *intValue[T]) Type() string {
	if _, ok := any(*v.p).(int64); ok {
		return "int64"
	}
	return "int"
}

func (v *intValue[T]) String() string { return strconv.FormatInt(int64(*v.p), 10) }

// countValue is a flag counted by repetition (-vv), like pflag's CountVarP,
// whose explicit value (-v=2) must be a whole number.
type countValue int

// countVarP defines a counted flag (see countValue).
func countVarP(fs *pflag.FlagSet, p *int, name, shorthand, usage string) {
	*p = 0
	fs.VarPF((*countValue)(p), name, shorthand, usage).NoOptDefVal = "+1"
}

func (c *countValue) Set(s string) error {
	if s == "+1" {
		*c++
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("not a count; repeat the flag (-vv) or give a whole number (-v=2)")
	}
	*c = countValue(n)
	return nil
}

func (c *countValue) Type() string   { return "count" }
func (c *countValue) String() string { return strconv.Itoa(int(*c)) }

// The help of --stack and --environment on the commands that act on one
// stack/environment: the same words on each, as the flags mean the same.
const (
	stackFlagUsage       = "stack name (metadata.name in stack.yaml)"
	environmentFlagUsage = "environment name (environments/<name>.yaml)"
)

// stackEnvFlags registers --stack/-s into stack and, when env is not nil,
// --environment/-e into env, with the help every such command shares.
func stackEnvFlags(fl *pflag.FlagSet, stack, env *string) {
	fl.StringVarP(stack, "stack", "s", "", stackFlagUsage)
	if env != nil {
		fl.StringVarP(env, "environment", "e", "", environmentFlagUsage)
	}
}
