// etcd for ddcompat's end-to-end tests: the upstream server main, built from
// go.etcd.io/etcd/server/v3 at the release pinned by build.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
