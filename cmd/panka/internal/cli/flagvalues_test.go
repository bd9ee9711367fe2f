package cli

import (
	"strings"
	"testing"
)

// TestNumberAndDurationFlags: every number and duration flag takes what
// the config takes (a bare number of seconds for a duration, like
// PANKA_LOCKS_TTL=5), and a bad value names the flag, the value and what
// to give instead, never Go's parser errors.
func TestNumberAndDurationFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		flag    string
		want    string
		wantErr string
	}{
		{"lock-timeout seconds", []string{"apply", "--lock-timeout", "5"}, "lock-timeout", "5s", ""},
		{"lock-timeout unit", []string{"apply", "--lock-timeout", "10m"}, "lock-timeout", "10m0s", ""},
		{"lock-timeout zero", []string{"apply", "--lock-timeout", "0"}, "lock-timeout", "0", ""},
		// A CI variable with a stray space: trimmed, as refs are.
		{"lock-timeout spaces", []string{"apply", "--lock-timeout", " 10s "}, "lock-timeout", "10s", ""},
		{"drift detect lock-timeout spaces", []string{"drift", "detect", "--lock-timeout", "5 "}, "lock-timeout", "5s", ""},
		{"parallelism spaces", []string{"apply", "--parallelism", " 4"}, "parallelism", "4", ""},
		{"lock-timeout word", []string{"apply", "--lock-timeout", "soon"}, "", "",
			`invalid argument "soon" for "--lock-timeout" flag: not a duration; give seconds (90) or a number with a unit (90s, 10m, 1h30m)`},
		{"lock-timeout fraction", []string{"destroy", "--lock-timeout", "1.5"}, "", "", `"1.5" for "--lock-timeout" flag: not a duration; give seconds (90)`},
		{"lock-timeout negative", []string{"apply", "--lock-timeout", "-5"}, "", "", `"-5" for "--lock-timeout" flag: negative;`},
		{"lock-timeout negative unit", []string{"apply", "--lock-timeout=-1m"}, "", "", `"-1m" for "--lock-timeout" flag: negative;`},
		{"lock-timeout too long", []string{"apply", "--lock-timeout", "99999999999"}, "", "", `"99999999999" for "--lock-timeout" flag: too long;`},
		{"rollback lock-timeout seconds", []string{"rollback", "--lock-timeout", "30"}, "lock-timeout", "30s", ""},
		{"promote lock-timeout seconds", []string{"promote", "--lock-timeout", "30"}, "lock-timeout", "30s", ""},
		{"drift detect lock-timeout seconds", []string{"drift", "detect", "--lock-timeout", "5"}, "lock-timeout", "5s", ""},
		{"state push lock-timeout seconds", []string{"state", "push", "--lock-timeout", "5"}, "lock-timeout", "5s", ""},
		{"state rm lock-timeout word", []string{"state", "rm", "--lock-timeout", "x"}, "", "", `"x" for "--lock-timeout" flag: not a duration;`},
		{"to-version", []string{"rollback", "--to-version", "12"}, "to-version", "12", ""},
		{"to-version word", []string{"rollback", "--to-version", "abc"}, "", "",
			`invalid argument "abc" for "--to-version" flag: not a whole number; give the state serial of a deployment (panka history lists them), e.g. --to-version 12`},
		{"to-version too large", []string{"rollback", "--to-version", "99999999999999999999"}, "", "", `"99999999999999999999" for "--to-version" flag: too large a number; give the state serial`},
		{"parallelism word", []string{"apply", "--parallelism", "many"}, "", "", `"many" for "--parallelism" flag: not a whole number; give the number of resource operations to run at once, e.g. --parallelism 10`},
		{"limit", []string{"history", "-n", "5"}, "limit", "5", ""},
		{"limit word", []string{"history", "--limit", "all"}, "", "", `"all" for "-n, --limit" flag: not a whole number; give how many records to show, e.g. --limit 50 (0: all)`},
		{"offset fraction", []string{"history", "--offset", "1.5"}, "", "", `"1.5" for "--offset" flag: not a whole number; give how many of the newest records to skip`},
		{"verbose counted", []string{"version", "-vv"}, "verbose", "2", ""},
		{"verbose word", []string{"version", "-v=x"}, "", "", `"x" for "-v, --verbose" flag: not a count; repeat the flag (-vv) or give a whole number (-v=2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := Test()
			root := NewRootCmd(NewFactory(ios))
			cmd, rest, err := root.Find(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			err = cmd.ParseFlags(rest)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				for _, goText := range []string{"strconv.", "time: "} {
					if strings.Contains(err.Error(), goText) {
						t.Errorf("err = %v: Go's parser error", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cmd.Flags().Lookup(tt.flag).Value.String(); got != tt.want {
				t.Errorf("--%s = %s, want %s", tt.flag, got, tt.want)
			}
		})
	}
}
