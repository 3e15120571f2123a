// env.go lets every flag be set by an environment variable: PRESENCED_ and
// the flag's name in capitals, with '-' as '_' (-admin-addr is
// PRESENCED_ADMIN_ADDR). A flag given on the command line wins.

package main

import (
	"flag"
	"fmt"
	"strings"
)

// envPrefix starts the name of every presenced environment variable.
const envPrefix = "PRESENCED_"

// noEnv lists the flags no environment variable sets: a variable that
// happens to be named PRESENCED_VERSION must not turn the server into a
// version printer.
var noEnv = map[string]bool{"version": true}

// envName returns the environment variable of the flag named name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag of fs that the command line did not set from
// its environment variable, if lookup finds one. An invalid value is an
// error naming the variable, the value and the flag's rule.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || noEnv[f.Name] {
			return
		}
		name := envName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid %s=%q (flag -%s): %v", name, v, f.Name, e)
		}
	})
	return err
}
