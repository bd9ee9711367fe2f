#!/usr/bin/env bash
# The quickstart on the embedded default (state and locks in .panka/, the
# local target writing manifests): a sample deployment repo goes through
# validate, changed, plan, apply, a second commit, apply, history and
# rollback --to-commit. Needs bin/panka, bin/pulumi-resource-pankalocal and a
# Pulumi CLI (make demo builds them all).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$root/bin:$root/.tools/bin:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-panka-demo-passphrase}"
export PULUMI_HOME="${PULUMI_HOME:-$root/.tools/pulumi-home}"
work="${PANKA_DEMO_DIR:-$(mktemp -d)/shop-deployments}"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

rm -rf "$work"
mkdir -p "$work"
cd "$work"
git init -q -b main
git config user.email demo@panka.dev
git config user.name "panka demo"
echo "# shop deployments" > README.md
git add README.md && git commit -qm "Start the deployment repo"
cp -r "$root/testdata/quickstart/." .
git add -A && git commit -qm "shop: web, database, queue and bucket"
first=$(git rev-parse HEAD)

echo "Deployment repo: $work"
step panka validate
step panka stack list
step panka changed --why
step panka plan --stack shop --environment dev
step panka apply --stack shop --environment dev --auto-approve
step cat .panka/local/shop/dev/web.json

# A second commit: more replicas and a new greeting for dev.
sed -i 's/spec: {}/spec:\n  variables:\n    GREETING: hello again\n  overrides:\n    web:\n      replicas: 2/' stacks/shop/environments/dev.yaml
git commit -qam "shop/dev: two web replicas, new greeting"
step panka changed --why
step panka apply --stack shop --environment dev --auto-approve
step panka history --stack shop --environment dev
step panka rollback --stack shop --environment dev --to-commit "$first" --auto-approve
step panka history --stack shop --environment dev
step cat .panka/local/shop/dev/web.json
echo
echo "Done. The repo, its state (.panka/state) and manifests (.panka/local) are in $work"
