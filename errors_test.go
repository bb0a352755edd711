package shardtorrent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestExportedErrorsHavePackagePrefix: in every package of the module,
// every exported error variable or constant (a name starting with Err)
// says which package it comes from: its message starts with "name: ",
// name being the package's. It reads the package files with go/ast, so a
// new package or a new error is checked without editing the test. What it
// accepts:
//   - errors.New("pkg: ...") and fmt.Errorf("pkg: ...", ...);
//   - a re-export of another package's error (x.ErrFoo), checked there;
//   - a value of a type whose Error method returns "pkg: " + ...
//     (the ErrorKind sentinels of wire/errors.go), typed constants
//     included.
//
// Anything else fails, so that a new form is looked at.
func TestExportedErrorsHavePackagePrefix(t *testing.T) {
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for d := range dirs {
		list = append(list, d)
	}
	sort.Strings(list)
	checked := 0
	for _, dir := range list {
		t.Run(dir, func(t *testing.T) {
			checked += checkErrorPrefixes(t, dir)
		})
	}
	// The test must see the errors it exists for.
	if checked < 50 {
		t.Fatalf("checked only %d exported errors in %d packages: the walk is broken", checked, len(list))
	}
}

// checkErrorPrefixes checks the package in dir and returns how many
// exported errors it checked.
func checkErrorPrefixes(t *testing.T, dir string) int {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	pkg := ""
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		pkg = f.Name.Name
	}
	if pkg == "main" {
		return 0
	}
	prefix := pkg + ": "
	// errorPrefixed[T]: T's Error method returns a string that starts
	// with prefix.
	errorPrefixed := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Name.Name != "Error" || fd.Body == nil {
				continue
			}
			recv := fd.Recv.List[0].Type
			if st, ok := recv.(*ast.StarExpr); ok {
				recv = st.X
			}
			id, ok := recv.(*ast.Ident)
			if !ok {
				continue
			}
			errorPrefixed[id.Name] = returnsPrefixed(fd.Body, prefix)
		}
	}
	n := 0
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || (gd.Tok != token.VAR && gd.Tok != token.CONST) {
				continue
			}
			var lastType ast.Expr // a const group's type carries over
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Type != nil || len(vs.Values) > 0 {
					lastType = vs.Type
				}
				for i, name := range vs.Names {
					if !name.IsExported() || !strings.HasPrefix(name.Name, "Err") {
						continue
					}
					n++
					var val ast.Expr
					if i < len(vs.Values) {
						val = vs.Values[i]
					}
					typ := vs.Type
					if typ == nil && gd.Tok == token.CONST && len(vs.Values) == 0 {
						typ = lastType
					}
					if why := errorValueOK(val, typ, prefix, errorPrefixed); why != "" {
						t.Errorf("%s: %s.%s %s", fset.Position(name.Pos()), pkg, name.Name, why)
					}
				}
			}
		}
	}
	return n
}

// errorValueOK returns "" if the error declared with value val (or of type
// typ) carries prefix, else why not.
func errorValueOK(val, typ ast.Expr, prefix string, errorPrefixed map[string]bool) string {
	typeOK := func(e ast.Expr) (string, bool) {
		if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
			e = u.X
		}
		if c, ok := e.(*ast.CompositeLit); ok {
			e = c.Type
		}
		if st, ok := e.(*ast.StarExpr); ok {
			e = st.X
		}
		id, ok := e.(*ast.Ident)
		if !ok {
			return "", false
		}
		p, known := errorPrefixed[id.Name]
		if !known {
			return "is of type " + id.Name + ", which has no Error method here", true
		}
		if !p {
			return "is of type " + id.Name + ", whose Error does not start with " + strconv.Quote(prefix), true
		}
		return "", true
	}
	if val == nil {
		if typ == nil {
			return "has no value to check"
		}
		if why, ok := typeOK(typ); ok {
			return why
		}
		return "has a type the test cannot check"
	}
	switch v := val.(type) {
	case *ast.CallExpr:
		if sel, ok := v.Fun.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && ((x.Name == "errors" && sel.Sel.Name == "New") || (x.Name == "fmt" && sel.Sel.Name == "Errorf")) {
				if len(v.Args) == 0 {
					return "has no message"
				}
				lit, ok := v.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return "has a message that is not a literal"
				}
				s, _ := strconv.Unquote(lit.Value)
				if !strings.HasPrefix(s, prefix) {
					return "is " + strconv.Quote(s) + ", without the prefix " + strconv.Quote(prefix)
				}
				return ""
			}
		}
		if typ != nil {
			if why, ok := typeOK(typ); ok {
				return why
			}
		}
		if why, ok := typeOK(v.Fun); ok { // a conversion, T(x)
			return why
		}
		return "is a call the test cannot check"
	case *ast.SelectorExpr:
		if _, ok := v.X.(*ast.Ident); ok && strings.HasPrefix(v.Sel.Name, "Err") {
			return "" // a re-export: checked in its own package
		}
	case *ast.Ident:
		if v.Name == "iota" || typ != nil {
			if why, ok := typeOK(typ); ok {
				return why
			}
		}
		if strings.HasPrefix(v.Name, "Err") {
			return "" // an alias of one checked here
		}
	case *ast.BinaryExpr, *ast.BasicLit:
		if typ != nil {
			if why, ok := typeOK(typ); ok {
				return why
			}
		}
	default:
		if why, ok := typeOK(val); ok {
			return why
		}
	}
	return "has a form the test cannot check"
}

// returnsPrefixed reports whether every return statement of body returns
// an expression whose first string literal starts with prefix.
func returnsPrefixed(body *ast.BlockStmt, prefix string) bool {
	ok, any := true, false
	ast.Inspect(body, func(n ast.Node) bool {
		r, isRet := n.(*ast.ReturnStmt)
		if !isRet || len(r.Results) != 1 {
			return true
		}
		any = true
		var first *ast.BasicLit
		ast.Inspect(r.Results[0], func(n ast.Node) bool {
			if lit, isLit := n.(*ast.BasicLit); isLit && lit.Kind == token.STRING && first == nil {
				first = lit
			}
			return first == nil
		})
		if first == nil {
			ok = false
			return true
		}
		s, _ := strconv.Unquote(first.Value)
		if !strings.HasPrefix(s, prefix) {
			ok = false
		}
		return true
	})
	return ok && any
}
