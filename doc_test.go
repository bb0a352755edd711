package shardtorrent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestExportedNamesDocumented: every exported name of the root package
// and of plugin/ (whose API promises godoc everywhere) has a doc comment:
// functions, types, methods of exported types, and constants and variables
// (a doc comment on the name, a comment on its line, or one on its
// parenthesised group); a struct field or interface method needs its
// own comment, the comment of the block of lines it continues, or a
// mention by name in its type's comment. Methods that only implement an interface whose
// documentation says what they do are exempt: String() string
// (fmt.Stringer), Error() string (error), Unwrap() error (package errors)
// and the four methods of
// plugin.Alert on a type named ...Alert; and the method of a one-method
// interface (a hook), which its type's comment describes. It reads the files with go/ast,
// so a new name is checked without editing the test.
func TestExportedNamesDocumented(t *testing.T) {
	for _, dir := range []string{".", "plugin"} {
		t.Run(dir, func(t *testing.T) {
			missing, checked := undocumented(t, dir)
			if checked < 20 {
				t.Fatalf("checked only %d names in %s: the walk is broken", checked, dir)
			}
			for _, m := range missing {
				t.Errorf("%s has no doc comment", m)
			}
		})
	}
}

// undocumented lists the exported names in dir's non-test files that have
// no doc comment, and how many names it checked.
func undocumented(t *testing.T, dir string) (missing []string, checked int) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		note := func(pos token.Pos, name string, doc ...*ast.CommentGroup) {
			checked++
			for _, d := range doc {
				if d != nil && strings.TrimSpace(d.Text()) != "" {
					return
				}
			}
			p := fset.Position(pos)
			missing = append(missing, filepath.Base(p.Filename)+":"+strconv.Itoa(p.Line)+": "+name)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := receiverName(d.Recv.List[0].Type)
					if !ast.IsExported(recv) {
						continue
					}
					name = recv + "." + name
					if implementsDocumented(recv, d) {
						continue
					}
				}
				note(d.Pos(), name, d.Doc)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						note(s.Pos(), s.Name.Name, s.Doc, d.Doc, s.Comment)
						// Fields of a struct and methods of an interface.
						var fields *ast.FieldList
						switch tt := s.Type.(type) {
						case *ast.StructType:
							fields = tt.Fields
						case *ast.InterfaceType:
							// A one-method interface (a hook) is documented
							// by its type's comment, as godoc shows them.
							if len(tt.Methods.List) > 1 {
								fields = tt.Methods
							}
						}
						if fields == nil {
							continue
						}
						// A field without a comment of its own is covered by
						// the comment of the block it continues: fields on
						// consecutive lines under one comment, as in
						// "// The DHT ...\n DisableDHT bool\n DHT dht.Settings".
						var block *ast.CommentGroup
						prevLine := -1
						for _, fl := range fields.List {
							line := fset.Position(fl.Pos()).Line
							switch {
							case fl.Doc != nil:
								block = fl.Doc
							case line != prevLine+1:
								block = nil
							}
							prevLine = fset.Position(fl.End()).Line
							for _, id := range fl.Names {
								if id.IsExported() {
									note(id.Pos(), s.Name.Name+"."+id.Name, fl.Doc, fl.Comment, block, mentions(id.Name, s.Doc, d.Doc))
								}
							}
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() {
								group := d.Doc
								if !d.Lparen.IsValid() {
									group = nil // a lone spec's doc is d.Doc, counted below
								}
								note(id.Pos(), id.Name, s.Doc, s.Comment, group, lone(d))
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(missing)
	return missing, checked
}

// implementsDocumented reports whether method d of type recv is one of
// the interface methods TestExportedNamesDocumented exempts.
func implementsDocumented(recv string, d *ast.FuncDecl) bool {
	ft := d.Type
	if ft.Params.NumFields() != 0 || ft.Results.NumFields() != 1 {
		return false
	}
	res, _ := ft.Results.List[0].Type.(*ast.Ident)
	if res == nil {
		return false
	}
	switch d.Name.Name + " " + res.Name {
	case "String string", "Error string", "Unwrap error":
		return true
	case "Type AlertType", "Category Category", "Name string", "Message string":
		return strings.HasSuffix(recv, "Alert")
	}
	return false
}

// mentions returns the first of docs that names field as a word (the
// type's comment saying what the field holds, as in "DHTErrorAlert: the
// DHT failed at Op"), or nil.
func mentions(field string, docs ...*ast.CommentGroup) *ast.CommentGroup {
	for _, d := range docs {
		if d == nil {
			continue
		}
		words := strings.FieldsFunc(d.Text(), func(r rune) bool {
			return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		})
		if slices.Contains(words, field) {
			return d
		}
	}
	return nil
}

// lone returns the doc of a declaration without parentheses (var X = 1).
func lone(d *ast.GenDecl) *ast.CommentGroup {
	if d.Lparen.IsValid() {
		return nil
	}
	return d.Doc
}

func receiverName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return receiverName(e.X)
	case *ast.IndexExpr:
		return receiverName(e.X)
	case *ast.IndexListExpr:
		return receiverName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}
