package stacktest

import (
	"fmt"
	"os"
	"path/filepath"
)

// Options size a generated repository.
type Options struct {
	// Stacks is the number of stacks (default 100).
	Stacks int
	// Environments per stack: dev, staging, production, then env-N (default 3).
	Environments int
	// Root is the stacks folder inside dir (default "stacks").
	Root string
}

// StackName is the name of the i-th generated stack.
func StackName(i int) string { return fmt.Sprintf("stack-%05d", i) }

// StackPath is the repo-relative folder of the i-th generated stack.
func StackPath(root string, i int) string {
	if root == "" {
		root = "stacks"
	}
	return fmt.Sprintf("%s/team-%02d/%s", root, i%50, StackName(i))
}

// EnvName is the name of the j-th environment.
func EnvName(j int) string {
	switch j {
	case 0:
		return "dev"
	case 1:
		return "staging"
	case 2:
		return "production"
	}
	return fmt.Sprintf("env-%d", j)
}

// Generate writes a repository under dir: every stack has a MicroService
// (referencing a Database and a Queue), a Worker, a Database, a Queue and a
// Bucket, and o.Environments overlays that change replicas and sizes.
func Generate(dir string, o Options) error {
	if o.Stacks == 0 {
		o.Stacks = 100
	}
	if o.Environments == 0 {
		o.Environments = 3
	}
	for i := 0; i < o.Stacks; i++ {
		base := filepath.Join(dir, filepath.FromSlash(StackPath(o.Root, i)))
		files := map[string]string{
			"stack.yaml":                 stackFile(i),
			"infra/data.yaml":            infraFile,
			"services/api/service.yaml":  apiFile,
			"services/work/service.yaml": workerFile,
		}
		for j := 0; j < o.Environments; j++ {
			files["environments/"+EnvName(j)+".yaml"] = envFile(EnvName(j), j)
		}
		for name, content := range files {
			p := filepath.Join(base, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func stackFile(i int) string {
	return fmt.Sprintf(`apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: %s
spec:
  provider:
    name: aws
    region: eu-west-1
  variables:
    TAG:
      default: "1.%d.0"
    HOST:
      required: true
  watch:
    - shared/team-%02d/**
`, StackName(i), i%10, i%50)
}

const infraFile = `apiVersion: core.panka.io/v1
kind: Database
metadata:
  name: db
spec:
  engine: postgres
  instanceClass: db.t4g.micro
---
apiVersion: core.panka.io/v1
kind: Queue
metadata:
  name: jobs
spec:
  deadLetter:
    maxReceives: 5
---
apiVersion: core.panka.io/v1
kind: Bucket
metadata:
  name: files
spec:
  versioning: true
`

const apiFile = `apiVersion: core.panka.io/v1
kind: Service
metadata:
  name: api
spec: {}
---
apiVersion: core.panka.io/v1
kind: MicroService
metadata:
  name: api
spec:
  image: ghcr.io/acme/api:${TAG}
  env:
    DB: ${db.endpoint}
    QUEUE: ${jobs.url}
  loadBalancer:
    public: true
    host: ${HOST}
`

const workerFile = `apiVersion: core.panka.io/v1
kind: Service
metadata:
  name: work
spec: {}
---
apiVersion: core.panka.io/v1
kind: Worker
metadata:
  name: worker
spec:
  image: ghcr.io/acme/worker:${TAG}
  env:
    QUEUE: ${jobs.url}
    FILES: ${files.name}
`

func envFile(name string, j int) string {
	cpu, mem := []int{256, 512, 1024}[j%3], []int{512, 1024, 2048}[j%3]
	return fmt.Sprintf(`apiVersion: core.panka.io/v1
kind: Environment
metadata:
  name: %s
spec:
  variables:
    HOST: %s.example.com
  overrides:
    api:
      replicas: %d
      cpu: %d
      memory: %d
    db:
      multiAZ: %t
`, name, name, j+1, cpu, mem, j == 2)
}
