package fuzz

import (
	"os"
	"testing"
)

// TestMain removes what the targets' shared environments leave in the
// temporary directories once the process is done with them: a fuzz run
// starts a process per worker, each opening its own appliances, and runs
// of a few minutes would otherwise pile up data dirs.
func TestMain(m *testing.M) {
	code := m.Run()
	if listApp != nil {
		listApp.app.Close()
		os.RemoveAll(listApp.dir)
	}
	if httpApp != nil {
		dir := httpApp.app.Config().EventStore.Dir
		httpApp.app.Close()
		os.RemoveAll(dir)
	}
	if backupApp != nil {
		os.RemoveAll(backupApp.dir)
	}
	if configDirPath != "" {
		os.RemoveAll(configDirPath)
	}
	os.Exit(code)
}
