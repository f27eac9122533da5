package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Options tunes a loaded Set. The zero value gives the documented defaults.
type Options struct {
	// CallTimeout is the time budget of one Lua call (validate, predicate,
	// projection key or reducer). Default 50ms.
	CallTimeout time.Duration
	// LoadTimeout is the time budget of running one file's top level while
	// loading. Default 20 × CallTimeout.
	LoadTimeout time.Duration
	// PoolSize is how many Lua VMs serve calls concurrently; VMs are created
	// on demand up to this number. Default 2 × GOMAXPROCS.
	PoolSize int
	// Print receives what rule code prints (file name, message). Nil drops it.
	Print func(file, msg string)
	// Observe, when set, is told of every Lua call at run time: its kind
	// ("validate", "permission", "default", "projection"), how long it
	// took, and whether it ran out of time. For metrics.
	Observe func(kind string, d time.Duration, timedOut bool)
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 50 * time.Millisecond
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 20 * o.CallTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	return o
}

// File is one rule file: its name (base name, e.g. "product.lua") and bytes.
// A Set is built from Files alone so that every node of a cluster compiles
// the very bytes carried in the RulesDeployed command.
type File struct {
	Name   string
	Source []byte
}

// Set is a loaded, checked rule set: the models and projections of every
// file, and the pool of VMs that runs their Lua functions. It is safe for
// concurrent use. Close it when a newer set replaces it.
type Set struct {
	// Version is a short hex hash of every file name and source; nodes compare
	// it to know they run the same rules.
	Version string
	// Files are the sources, sorted by name.
	Files []File
	// Models and Projections are in file order, then declaration order.
	Models      []*Model
	Projections []*Projection

	opts     Options
	compiled []compiledFile
	pool     *pool
	byName   map[string]*Model
	byPath   map[string]*Model
	projByNm map[string]*Projection
	nfuncs   int // function slots per VM
}

// compiledFile is a file parsed and compiled once; every VM of the pool
// instantiates the same proto.
type compiledFile struct {
	name  string
	proto *lua.FunctionProto
	pos   positions
}

// Model returns the model called name, or nil.
func (s *Set) Model(name string) *Model { return s.byName[name] }

// ModelByPath returns the model served at path (e.g. "/api/products"), or nil.
// A trailing slash is ignored.
func (s *Set) ModelByPath(path string) *Model {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return s.byPath[path]
}

// Projection returns the projection called name, or nil.
func (s *Set) Projection(name string) *Projection { return s.projByNm[name] }

// Close releases the VMs. Calls in flight finish; later calls fail with
// ErrClosed.
func (s *Set) Close() {
	if s.pool != nil {
		s.pool.close()
	}
}

// LoadDir loads every *.lua file of dir, sorted by name.
func LoadDir(dir string, opts Options) (*Set, error) {
	files, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return LoadFiles(files, opts)
}

// ReadDir reads the *.lua files of dir, sorted by name, without checking them.
func ReadDir(dir string) ([]File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.lua"))
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	sort.Strings(names)
	files := make([]File, 0, len(names))
	for _, n := range names {
		src, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		files = append(files, File{Name: filepath.Base(n), Source: src})
	}
	if len(files) == 0 {
		return nil, Errors{{File: dir, Msg: "no *.lua rule files"}}
	}
	return files, nil
}

// Check loads dir and returns every problem found, or nil when the rules are
// good. It is `lithair rules check DIR`.
func Check(dir string) Errors {
	s, err := LoadDir(dir, Options{PoolSize: 1})
	if err != nil {
		if es, ok := err.(Errors); ok {
			return es
		}
		return Errors{{File: dir, Msg: err.Error()}}
	}
	s.Close()
	return nil
}

// LoadFiles compiles and checks files and returns the Set. On any problem it
// returns Errors (every problem found, each with file and line) and no Set.
func LoadFiles(files []File, opts Options) (*Set, error) {
	opts = opts.withDefaults()
	files = append([]File(nil), files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var errs errorList
	seen := map[string]bool{}
	compiled := make([]compiledFile, 0, len(files))
	for _, f := range append(files, File{Name: SystemFile, Source: systemSource}) {
		if seen[f.Name] {
			if f.Name == SystemFile {
				errs.add(f.Name, 0, "this file name is reserved for Lithair's own models; rename the file")
			} else {
				errs.add(f.Name, 0, "duplicate file name")
			}
			continue
		}
		seen[f.Name] = true
		chunk, err := parse.Parse(bytes.NewReader(f.Source), f.Name)
		if err != nil {
			errs.errs = append(errs.errs, atEOF(luaError(f.Name, err), f.Source))
			continue
		}
		proto, err := lua.Compile(chunk, f.Name)
		if err != nil {
			errs.errs = append(errs.errs, atEOF(luaError(f.Name, err), f.Source))
			continue
		}
		compiled = append(compiled, compiledFile{name: f.Name, proto: proto, pos: indexPositions(chunk)})
	}
	// The system file is compiled and counted in the version (a binary with
	// other system models runs other rules) but is not one of Files: Files
	// are what a deployment carries, and every binary brings its own.
	s := &Set{Version: versionOf(append(files, File{Name: SystemFile, Source: systemSource})), Files: files, opts: opts, compiled: compiled}
	v, verrs := newVM(s, false)
	if len(verrs) > 0 || len(errs.errs) > 0 {
		// Report the files that compiled too, so one syntax error does not
		// hide the rest; but only their own problems: what they refer to
		// may live in a file that did not compile.
		if len(verrs) == 0 {
			b := newBuilder(s)
			b.build(v.defs)
			verrs = b.errs.errs
		}
		v.close()
		return nil, (&errorList{errs: append(errs.errs, verrs...)}).sorted()
	}
	b := newBuilder(s)
	b.build(v.defs)
	b.link()
	if len(b.errs.errs) > 0 {
		v.close()
		return nil, b.errs.sorted()
	}
	v.funcs = b.funcs
	s.pool = newPool(s, opts.PoolSize)
	s.pool.put(v, true)
	return s, nil
}

// versionOf hashes names and sources, each length-prefixed so that moving
// bytes from one file to the next changes the hash.
// atEOF gives a syntax error at the end of a file the file's last line,
// so that every error reads file:line: message.
func atEOF(e Error, source []byte) Error {
	if e.Line == 0 {
		e.Line = bytes.Count(source, []byte("\n")) + 1
		if len(source) > 0 && source[len(source)-1] == '\n' {
			e.Line--
		}
	}
	return e
}

func versionOf(files []File) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Name)))
		h.Write(n[:])
		h.Write([]byte(f.Name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Source)))
		h.Write(n[:])
		h.Write(f.Source)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
