// Package model is the Pulumi-free part of the aws target: it decodes and
// validates the component specs of a resolved stack/environment, derives
// every physical name, and orders the components (New, Validate). The aws
// target registers resources from a Program; panka plan and validate call
// Validate so a model the target would refuse fails before any apply,
// without the engine, AWS credentials or the pulumi-aws plugin. This
// package must not import Pulumi.
package model
