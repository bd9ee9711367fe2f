//go:build tools

// Package tools pins the Pulumi CLI that panka's tests drive. It is built from
// source because no prebuilt binary can be downloaded on the build machines.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
