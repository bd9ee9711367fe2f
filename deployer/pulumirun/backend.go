package pulumirun

import "panka.dev/panka/deployer/engine"

// StackName is the Pulumi stack of a panka stack/environment (see engine.StackName).
func StackName(stack, env string) string { return engine.StackName(stack, env) }

// FileBackendURL is the DIY backend URL for state kept in a local folder.
func FileBackendURL(dir string) string { return engine.FileBackendURL(dir) }

// S3Backend describes a DIY backend in an S3 bucket (see engine.S3Backend).
type S3Backend = engine.S3Backend
