package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindPulumiUsesTheGivenEnvironment(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pulumi")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name       string
		configured string
		environ    []string
		want       string
		wantErr    string
	}{
		{name: "on PATH", environ: []string{"PATH=" + empty + string(os.PathListSeparator) + dir}, want: exe},
		{name: "not on PATH", environ: []string{"PATH=" + empty}, wantErr: "on PATH"},
		{name: "no PATH", wantErr: "on PATH"},
		{name: "relative PATH entry", environ: []string{"PATH=."}, wantErr: "on PATH"},
		{name: "configured", configured: exe, environ: []string{"PATH=" + empty}, want: exe},
		{name: "configured missing", configured: filepath.Join(dir, "nope"), environ: []string{"PATH=" + dir}, wantErr: "(config pulumi.cli)"},
		{name: "configured folder", configured: dir, wantErr: "(config pulumi.cli)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "relative PATH entry" {
				t.Chdir(dir)
			}
			got, err := FindPulumi(tt.configured, tt.environ)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrPulumiNotFound) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "make tools") {
					t.Fatalf("FindPulumi = %q, %v; want ErrPulumiNotFound mentioning %q and make tools", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindPulumi = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPrerequisitesCheck(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"pulumi", Binary} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, Binary)
	path := "PATH=" + dir
	tests := []struct {
		name     string
		p        Prerequisites
		wantErrs []error
	}{
		{name: "all there", p: Prerequisites{Binary: bin, Environ: []string{path, "PULUMI_CONFIG_PASSPHRASE=x"}}},
		{name: "passphrase file", p: Prerequisites{Binary: bin, SecretsProvider: "passphrase", Environ: []string{path, "PULUMI_CONFIG_PASSPHRASE_FILE=/p"}}},
		// Pulumi takes an empty passphrase when it is set explicitly.
		{name: "empty passphrase", p: Prerequisites{Binary: bin, Environ: []string{path, "PULUMI_CONFIG_PASSPHRASE="}}},
		{name: "kms needs no passphrase", p: Prerequisites{Binary: bin, SecretsProvider: "awskms://alias/x", Environ: []string{path}}},
		{name: "no passphrase", p: Prerequisites{Binary: bin, Environ: []string{path}}, wantErrs: []error{ErrNoPassphrase}},
		{name: "nothing", p: Prerequisites{Binary: filepath.Join(dir, "missing"), Environ: []string{"PATH=" + t.TempDir()}},
			wantErrs: []error{ErrBinaryNotFound, ErrPulumiNotFound, ErrNoPassphrase}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check()
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("Check = %v, want it to report %v", err, want)
				}
			}
		})
	}
}
