// Command modproxy builds a file-system Go module proxy from this
// repository, serving every published module at the version the
// repository's versions file gives it, so that a GOPROXY of
// file://DIR,https://proxy.golang.org resolves the project's modules as the
// public proxy will once their tags are pushed, and everything else from
// the public proxy.
//
// Usage:
//
//	go run . -out DIR [-rev REV] [-versions FILE]
//
// Without -rev the files are those git tracks or would track (tracked and
// untracked files not ignored), read from the work tree, so a change can be
// checked before it is committed; with -rev (e.g. HEAD) they are the
// committed tree of that revision. Each module's zip holds the files under
// its directory except those of nested modules, plus the repository's
// LICENSE when the module has none of its own, as the go command makes it
// from a tag, in the module zip format of golang.org/x/mod/zip; the proxy
// gets DIR/<module>/@v/list, <version>.info, <version>.mod and
// <version>.zip.
//
// Before writing, modproxy checks every go.mod of the repository: a
// requirement of one of the project's modules must name the version of the
// versions file, and no go.mod may replace a project module (the go.work at
// the root serves development). It prints the modules it served, one per
// line, as "path version dir".
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	out := flag.String("out", "", "directory to write the proxy to (created)")
	rev := flag.String("rev", "", "git revision to read (empty: the work tree)")
	versionsFile := flag.String("versions", "", "versions file (empty: versions at the repository root)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -out DIR [-rev REV] [-versions FILE]")
		os.Exit(2)
	}
	if err := run(*out, *rev, *versionsFile); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

func run(out, rev, versionsFile string) error {
	root, err := git("", "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	root = strings.TrimSpace(root)
	if versionsFile == "" {
		versionsFile = filepath.Join(root, "versions")
	}
	versions, order, err := readVersions(versionsFile)
	if err != nil {
		return err
	}
	var files map[string][]byte
	var when time.Time
	if rev == "" {
		files, err = workTree(root)
		when = time.Now().UTC().Truncate(time.Second)
	} else {
		files, err = committed(root, rev)
		if err == nil {
			when, err = commitTime(root, rev)
		}
	}
	if err != nil {
		return err
	}

	mods, err := modules(files)
	if err != nil {
		return err
	}
	if err := checkRequires(mods, versions); err != nil {
		return err
	}

	byPath := make(map[string]*mod, len(mods))
	for _, m := range mods {
		byPath[m.path] = m
	}
	for _, p := range order {
		m := byPath[p]
		if m == nil {
			fmt.Fprintf(os.Stderr, "modproxy: warning: %s is in %s but no go.mod declares it: not served\n", p, filepath.Base(versionsFile))
			continue
		}
		if err := serve(out, m, versions[p], files, mods, when); err != nil {
			return err
		}
		dir := m.dir
		if dir == "" {
			dir = "."
		}
		fmt.Printf("%s %s %s\n", m.path, versions[p], dir)
	}
	return nil
}

// readVersions reads "module-path version" lines; '#' starts a comment.
func readVersions(file string) (map[string]string, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	versions := make(map[string]string)
	var order []string
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, nil, fmt.Errorf("%s:%d: want \"module-path version\", got %q", file, i+1, strings.TrimSpace(line))
		}
		p, v := f[0], f[1]
		if err := module.Check(p, v); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
		}
		if module.CanonicalVersion(v) != v {
			return nil, nil, fmt.Errorf("%s:%d: version %q is not canonical", file, i+1, v)
		}
		if _, dup := versions[p]; dup {
			return nil, nil, fmt.Errorf("%s:%d: %s listed twice", file, i+1, p)
		}
		versions[p] = v
		order = append(order, p)
	}
	if len(order) == 0 {
		return nil, nil, fmt.Errorf("%s: no module listed", file)
	}
	return versions, order, nil
}

// workTree returns the files git tracks or would track, read from disk,
// keyed by slash path relative to root. Tracked files deleted from the work
// tree are left out.
func workTree(root string) (map[string][]byte, error) {
	list, err := git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte)
	for _, name := range strings.Split(list, "\x00") {
		if name == "" {
			continue
		}
		full := filepath.Join(root, filepath.FromSlash(name))
		info, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			continue // symbolic links are not part of module zips
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return nil, err
		}
		files[name] = data
	}
	return files, nil
}

// committed returns the regular files of the tree of rev.
func committed(root, rev string) (map[string][]byte, error) {
	cmd := exec.Command("git", "archive", "--format=tar", rev)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git archive %s: %v: %s", rev, err, strings.TrimSpace(stderr.String()))
	}
	files := make(map[string][]byte)
	tr := tar.NewReader(bytes.NewReader(stdout))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[h.Name] = data
	}
}

func commitTime(root, rev string) (time.Time, error) {
	s, err := git(root, "log", "-1", "--format=%cI", rev)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	return t.UTC(), err
}

// mod is one module of the repository.
type mod struct {
	path string // module path
	dir  string // slash path of its directory relative to the root, "" for the root
	file *modfile.File
	data []byte // its go.mod
}

// modules finds every go.mod among files (outside testdata) and parses it.
func modules(files map[string][]byte) ([]*mod, error) {
	var mods []*mod
	for name, data := range files {
		if path.Base(name) != "go.mod" || isTestdata(name) {
			continue
		}
		f, err := modfile.ParseLax(name, data, nil)
		if err != nil {
			return nil, err
		}
		if f.Module == nil {
			return nil, fmt.Errorf("%s: no module line", name)
		}
		dir := path.Dir(name)
		if dir == "." {
			dir = ""
		}
		mods = append(mods, &mod{path: f.Module.Mod.Path, dir: dir, file: f, data: data})
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].dir < mods[j].dir })
	return mods, nil
}

func isTestdata(name string) bool {
	return strings.HasPrefix(name, "testdata/") || strings.Contains(name, "/testdata/")
}

// checkRequires checks that every go.mod requires the project's modules at
// the versions of the versions file and replaces none of them.
func checkRequires(mods []*mod, versions map[string]string) error {
	project := make(map[string]bool, len(mods))
	for _, m := range mods {
		project[m.path] = true
	}
	var problems []string
	for _, m := range mods {
		name := path.Join(m.dir, "go.mod")
		for _, r := range m.file.Require {
			if !project[r.Mod.Path] && versions[r.Mod.Path] == "" {
				continue
			}
			want := versions[r.Mod.Path]
			switch {
			case want == "":
				problems = append(problems, fmt.Sprintf("%s requires %s, which the versions file does not list (an unpublished module cannot be a dependency)", name, r.Mod.Path))
			case r.Mod.Version != want:
				problems = append(problems, fmt.Sprintf("%s requires %s %s, the versions file says %s (run scripts/tidy.sh)", name, r.Mod.Path, r.Mod.Version, want))
			}
		}
		for _, r := range m.file.Replace {
			if project[r.Old.Path] || versions[r.Old.Path] != "" {
				problems = append(problems, fmt.Sprintf("%s replaces %s: the go.work at the root serves development (run scripts/tidy.sh)", name, r.Old.Path))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	return nil
}

// serve writes m at version v into the proxy at out.
func serve(out string, m *mod, v string, files map[string][]byte, mods []*mod, when time.Time) error {
	var list []modzip.File
	prefix := ""
	if m.dir != "" {
		prefix = m.dir + "/"
	}
	for name, data := range files {
		if !strings.HasPrefix(name, prefix) || inNested(name, m, mods) {
			continue
		}
		list = append(list, memFile{name: strings.TrimPrefix(name, prefix), data: data})
	}
	// the go command adds the repository's LICENSE to the zip of a module in
	// a subdirectory that has none of its own, and so must we, or the
	// checksums would not be those of the published zips
	if _, own := files[prefix+"LICENSE"]; prefix != "" && !own {
		if data, ok := files["LICENSE"]; ok {
			list = append(list, memFile{name: "LICENSE", data: data})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path() < list[j].Path() })

	esc, err := module.EscapePath(m.path)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var zbuf bytes.Buffer
	if err := modzip.Create(&zbuf, module.Version{Path: m.path, Version: v}, list); err != nil {
		return fmt.Errorf("%s: %v", m.path, err)
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, when})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		v + ".zip":  zbuf.Bytes(),
		v + ".mod":  m.data,
		v + ".info": info,
		"list":      []byte(v + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// inNested reports whether name lies in a module nested inside m.
func inNested(name string, m *mod, mods []*mod) bool {
	for _, o := range mods {
		if o == m || o.dir == "" {
			continue
		}
		if (m.dir == "" || strings.HasPrefix(o.dir, m.dir+"/")) && strings.HasPrefix(name, o.dir+"/") {
			return true
		}
	}
	return false
}

// memFile is a file of a module zip held in memory.
type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo{f}, nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo struct{ f memFile }

func (i memInfo) Name() string       { return path.Base(i.f.name) }
func (i memInfo) Size() int64        { return int64(len(i.f.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// git runs git in dir and returns its standard output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
