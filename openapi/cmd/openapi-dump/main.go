// Command openapi-dump writes the OpenAPI document of a rules directory to
// standard output, without a server:
//
//	go run ./openapi/cmd/openapi-dump -rules configs/rules > /tmp/openapi.json
//
// .ci/openapi-validate.sh checks what it writes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lithair/lithair/openapi"
	"github.com/lithair/lithair/rules"
)

func main() {
	dir := flag.String("rules", "configs/rules", "the rules directory")
	version := flag.String("version", "", "info.version (default: the rules version)")
	server := flag.String("server", "", "the server URL (default: none)")
	flag.Parse()
	set, err := rules.LoadDir(*dir, rules.Options{PoolSize: 1})
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapi-dump: %v\n", err)
		os.Exit(1)
	}
	defer set.Close()
	doc, err := openapi.Generate(set, openapi.Info{Version: *version, ServerURL: *server})
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapi-dump: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.Write(doc)
}
