// Package deployer groups what changes real infrastructure (SPEC §7): the
// Pulumi runner (deployer/pulumirun: Automation API, inline programs, DIY
// backend, event stream, recovery after killed runs), the targets mapping
// resolved components to Pulumi resources (deployer/target: the Target
// interface; target/aws on pulumi-aws, target/local on the pankalocal
// provider) and the pankalocal provider itself (deployer/pankalocal, a
// separate Go module built as bin/pulumi-resource-pankalocal).
//
// Nothing here reads flags or environment variables, prints to stdout or
// knows about panka's lease, state or history: the apply/destroy commands
// compose these building blocks.
package deployer
