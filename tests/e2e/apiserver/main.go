// A kube-apiserver for ddcompat's end-to-end tests: the upstream command, built from
// k8s.io/kubernetes at the release pinned in go.mod (see build.sh).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
