package container

import (
	"strings"
	"testing"
)

// A command line is any process's to choose: Command never panics on one, and a value given
// after --password never survives masking.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"python3\x00app.py\x00--password\x00x\x00",
		"java\x00-Dpassword=x\x00-jar\x00a.jar",
		"python3 worker.py --auth x",
		"python\x00s.py\x00https://u:p@h/x\x00://@:\x00a://b:c@d:e@f/g",
		"python\x00-p\x00-pp\x00--\x00=\x00 \x00\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, argv []byte) {
		Command(argv, true)
		Command(argv, false)
		const secret = "SECRETVALUE"
		planted := append([]byte("python3\x00"), argv...)
		planted = append(planted, "\x00--password\x00"+secret...)
		if got := Command(planted, true); strings.Contains(got, secret) {
			t.Fatalf("%q: %q", planted, got)
		}
	})
}
