// infra-hcl stands in for the two Terraform commands CI needs when no
// terraform binary can be installed (HashiCorp's release site is out of reach
// and no registry here ships the binary):
//
//	infra-hcl fmt DIR       like `terraform fmt -check -recursive DIR`: every .tf,
//	                        .tfvars and .tftest.hcl file must be byte-identical to
//	                        hclwrite.Format of itself (the formatter terraform fmt
//	                        is built on).
//	infra-hcl fmt -write DIR  rewrites the files that are not.
//	infra-hcl test MODULE   like `terraform test` for a provider-free module: it
//	                        evaluates variables (types, defaults, validations),
//	                        locals and outputs of MODULE for every run block of
//	                        MODULE/tests/*.tftest.hcl and checks the asserts and
//	                        expect_failures. Modules with resources, data sources,
//	                        providers or module calls are refused, since those need
//	                        real Terraform.
//
// It is built from Debian's Go toolchain and Debian's packaged source of
// hashicorp/hcl v2 and zclconf/go-cty by scripts/infra-tools.sh.
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

func main() {
	args := os.Args[1:]
	var ok bool
	switch {
	case len(args) == 2 && args[0] == "fmt":
		ok = fmtCheck(args[1], false)
	case len(args) == 3 && args[0] == "fmt" && args[1] == "-write":
		ok = fmtCheck(args[2], true)
	case len(args) == 2 && args[0] == "test":
		ok = runTests(args[1])
	default:
		fmt.Fprintln(os.Stderr, "usage: infra-hcl fmt [-write] DIR | infra-hcl test MODULE_DIR")
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- fmt

func fmtCheck(root string, write bool) bool {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		name := d.Name()
		if !d.IsDir() && (strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tfvars") || strings.HasSuffix(name, ".tftest.hcl")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	if len(files) == 0 {
		fmt.Fprintf(os.Stderr, "no Terraform files under %s\n", root)
		return false
	}
	ok := true
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			ok = false
			continue
		}
		if _, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos); diags.HasErrors() {
			fmt.Fprintf(os.Stderr, "%s: syntax error: %s\n", f, diags.Error())
			ok = false
			continue
		}
		formatted := hclwrite.Format(src)
		if !bytes.Equal(src, formatted) && write {
			if err := os.WriteFile(f, formatted, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				ok = false
			}
			fmt.Printf("%s: rewritten\n", f)
		} else if !bytes.Equal(src, formatted) {
			ok = false
			fmt.Printf("%s: not formatted\n", f)
			printFirstDifference(src, formatted)
		}
	}
	if ok {
		fmt.Printf("fmt: %d files formatted\n", len(files))
	}
	return ok
}

func printFirstDifference(a, b []byte) {
	al := strings.Split(string(a), "\n")
	bl := strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Printf("  line %d\n  - %q\n  + %q\n", i+1, x, y)
			return
		}
	}
}

// ---------------------------------------------------------------- module

type variable struct {
	name        string
	typ         cty.Type
	def         *cty.Value
	validations []validation
}

type validation struct {
	condition hcl.Expression
	message   hcl.Expression
}

type module struct {
	variables map[string]*variable
	varOrder  []string
	locals    map[string]hcl.Expression
	outputs   map[string]hcl.Expression
}

var moduleSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "terraform"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "resource", LabelNames: []string{"type", "name"}},
		{Type: "data", LabelNames: []string{"type", "name"}},
		{Type: "module", LabelNames: []string{"name"}},
		{Type: "provider", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
	},
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: "type"}, {Name: "default"}, {Name: "nullable"}, {Name: "sensitive"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}},
}

var outputSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "value", Required: true}, {Name: "description"}, {Name: "sensitive"}},
}

func loadModule(dir string) (*module, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	sort.Strings(paths)
	m := &module{variables: map[string]*variable{}, locals: map[string]hcl.Expression{}, outputs: map[string]hcl.Expression{}}
	var diags hcl.Diagnostics
	if len(paths) == 0 {
		return nil, diags.Append(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "no .tf files in " + dir})
	}
	for _, p := range paths {
		f, d := parser.ParseHCLFile(p)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		content, d := f.Body.Content(moduleSchema)
		diags = append(diags, d...)
		for _, b := range content.Blocks {
			switch b.Type {
			case "resource", "data", "module", "provider", "check":
				diags = diags.Append(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "not provider-free",
					Detail: fmt.Sprintf("%s block found; this runner evaluates only variables, locals and outputs", b.Type), Subject: b.DefRange.Ptr()})
			case "variable":
				v, d := loadVariable(b)
				diags = append(diags, d...)
				if v != nil {
					m.variables[v.name] = v
					m.varOrder = append(m.varOrder, v.name)
				}
			case "locals":
				attrs, d := b.Body.JustAttributes()
				diags = append(diags, d...)
				for name, a := range attrs {
					m.locals[name] = a.Expr
				}
			case "output":
				c, d := b.Body.Content(outputSchema)
				diags = append(diags, d...)
				if a, ok := c.Attributes["value"]; ok {
					m.outputs[b.Labels[0]] = a.Expr
				}
			}
		}
	}
	return m, diags
}

func loadVariable(b *hcl.Block) (*variable, hcl.Diagnostics) {
	c, diags := b.Body.Content(variableSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	v := &variable{name: b.Labels[0], typ: cty.DynamicPseudoType}
	if a, ok := c.Attributes["type"]; ok {
		t, d := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, d...)
		v.typ = t
	}
	if a, ok := c.Attributes["default"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			conv, err := convert.Convert(val, v.typ)
			if err != nil {
				diags = diags.Append(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "invalid default for var." + v.name, Detail: err.Error(), Subject: a.Range.Ptr()})
			} else {
				v.def = &conv
			}
		}
	}
	for _, vb := range c.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.validations = append(v.validations, validation{condition: vc.Attributes["condition"].Expr, message: vc.Attributes["error_message"].Expr})
		}
	}
	return v, diags
}

// ---------------------------------------------------------------- functions

// The subset of Terraform's built-in functions that cty and hcl implement with
// Terraform's semantics; anything else is reported as an unknown function.
func functions() map[string]function.Function {
	length := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true}},
		Type:   function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if args[0].Type() == cty.String {
				return stdlib.Strlen(args[0])
			}
			return stdlib.Length(args[0])
		},
	})
	boolFold := func(all bool) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				for it := args[0].ElementIterator(); it.Next(); {
					_, v := it.Element()
					if v.True() != all {
						return cty.BoolVal(!all), nil
					}
				}
				return cty.BoolVal(all), nil
			},
		})
	}
	affix := func(prefix bool) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "affix", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				s, a := args[0].AsString(), args[1].AsString()
				if prefix {
					return cty.BoolVal(strings.HasPrefix(s, a)), nil
				}
				return cty.BoolVal(strings.HasSuffix(s, a)), nil
			},
		})
	}
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "alltrue": boolFold(true), "anytrue": boolFold(false),
		"can": tryfunc.CanFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"coalesce": stdlib.CoalesceFunc, "compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"endswith": affix(false), "flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc,
		"format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc, "join": stdlib.JoinFunc,
		"jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc,
		"length": length, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
		"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "reverse": stdlib.ReverseListFunc, "setunion": stdlib.SetUnionFunc,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc,
		"startswith": affix(true), "substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc,
		"tobool": stdlib.MakeToFunc(cty.Bool), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String), "trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "trimsuffix": stdlib.TrimSuffixFunc, "try": tryfunc.TryFunc,
		"upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
	}
}

// ---------------------------------------------------------------- tests

type runBlock struct {
	name           string
	command        string
	variables      map[string]hcl.Expression
	asserts        []validation
	expectFailures []string
}

type testFile struct {
	path      string
	variables map[string]hcl.Expression
	runs      []runBlock
}

var testFileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "variables"}, {Type: "run", LabelNames: []string{"name"}}},
}

var runSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "command"}, {Name: "expect_failures"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "variables"}, {Type: "assert"}},
}

func loadTestFile(path string) (*testFile, hcl.Diagnostics) {
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		return nil, diags
	}
	content, d := f.Body.Content(testFileSchema)
	diags = append(diags, d...)
	tf := &testFile{path: path, variables: map[string]hcl.Expression{}}
	for _, b := range content.Blocks {
		switch b.Type {
		case "variables":
			attrs, d := b.Body.JustAttributes()
			diags = append(diags, d...)
			for n, a := range attrs {
				tf.variables[n] = a.Expr
			}
		case "run":
			r := runBlock{name: b.Labels[0], command: "apply", variables: map[string]hcl.Expression{}}
			rc, d := b.Body.Content(runSchema)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			if a, ok := rc.Attributes["command"]; ok {
				r.command = hcl.ExprAsKeyword(a.Expr)
			}
			if a, ok := rc.Attributes["expect_failures"]; ok {
				exprs, d := hcl.ExprList(a.Expr)
				diags = append(diags, d...)
				for _, e := range exprs {
					t, d := hcl.AbsTraversalForExpr(e)
					diags = append(diags, d...)
					if !d.HasErrors() {
						r.expectFailures = append(r.expectFailures, traversalString(t))
					}
				}
			}
			for _, rb := range rc.Blocks {
				if rb.Type == "variables" {
					attrs, d := rb.Body.JustAttributes()
					diags = append(diags, d...)
					for n, a := range attrs {
						r.variables[n] = a.Expr
					}
				} else {
					ac, d := rb.Body.Content(validationSchema)
					diags = append(diags, d...)
					if !d.HasErrors() {
						r.asserts = append(r.asserts, validation{condition: ac.Attributes["condition"].Expr, message: ac.Attributes["error_message"].Expr})
					}
				}
			}
			tf.runs = append(tf.runs, r)
		}
	}
	return tf, diags
}

func traversalString(t hcl.Traversal) string {
	var parts []string
	for _, step := range t {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		}
	}
	return strings.Join(parts, ".")
}

func runTests(dir string) bool {
	m, diags := loadModule(dir)
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags.Error())
		return false
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "tests", "*.tftest.hcl"))
	sort.Strings(paths)
	if len(paths) == 0 {
		fmt.Fprintf(os.Stderr, "no tests/*.tftest.hcl in %s\n", dir)
		return false
	}
	passed, failed := 0, 0
	for _, p := range paths {
		tf, diags := loadTestFile(p)
		if diags.HasErrors() {
			fmt.Fprintln(os.Stderr, diags.Error())
			failed++
			continue
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Printf("%s... in progress\n", rel)
		prior := map[string]cty.Value{}
		for _, r := range tf.runs {
			outputs, problems := execute(m, tf, r, prior)
			if len(problems) == 0 {
				passed++
				fmt.Printf("  run %q... pass\n", r.name)
			} else {
				failed++
				fmt.Printf("  run %q... fail\n", r.name)
				for _, pr := range problems {
					fmt.Printf("    %s\n", pr)
				}
			}
			if outputs != nil {
				prior[r.name] = cty.ObjectVal(outputs)
			}
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	return failed == 0 && passed > 0
}

func execute(m *module, tf *testFile, r runBlock, prior map[string]cty.Value) (map[string]cty.Value, []string) {
	if r.command != "plan" && r.command != "apply" {
		return nil, []string{fmt.Sprintf("unsupported command %q", r.command)}
	}
	funcs := functions()
	testCtx := &hcl.EvalContext{Functions: funcs, Variables: map[string]cty.Value{"run": objectOrEmpty(prior)}}

	var problems []string
	given := map[string]hcl.Expression{}
	for n, e := range tf.variables {
		given[n] = e
	}
	for n, e := range r.variables {
		given[n] = e
	}
	vars := map[string]cty.Value{}
	for n := range given {
		if _, ok := m.variables[n]; !ok {
			problems = append(problems, fmt.Sprintf("value for undeclared variable %q", n))
		}
	}
	for _, n := range m.varOrder {
		v := m.variables[n]
		if e, ok := given[n]; ok {
			val, d := e.Value(testCtx)
			if d.HasErrors() {
				problems = append(problems, d.Error())
				continue
			}
			conv, err := convert.Convert(val, v.typ)
			if err != nil {
				problems = append(problems, fmt.Sprintf("var.%s: %s", n, err))
				continue
			}
			vars[n] = conv
		} else if v.def != nil {
			vars[n] = *v.def
		} else {
			problems = append(problems, fmt.Sprintf("no value for required variable %q", n))
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}

	varCtx := &hcl.EvalContext{Functions: funcs, Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
	failedVars := map[string]string{}
	for _, n := range m.varOrder {
		for _, val := range m.variables[n].validations {
			ok, msg, err := check(val, varCtx)
			if err != "" {
				problems = append(problems, fmt.Sprintf("var.%s validation: %s", n, err))
			} else if !ok {
				failedVars["var."+n] = msg
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	if len(r.expectFailures) > 0 || len(failedVars) > 0 {
		expected := map[string]bool{}
		for _, e := range r.expectFailures {
			expected[e] = true
			if _, ok := failedVars[e]; !ok {
				problems = append(problems, fmt.Sprintf("expected %s to fail its validation, but it passed", e))
			}
		}
		for addr, msg := range failedVars {
			if !expected[addr] {
				problems = append(problems, fmt.Sprintf("%s: %s", addr, msg))
			}
		}
		// As in Terraform, a run that hit its expected failures stops there.
		return nil, problems
	}

	locals, errs := evalLocals(m, varCtx)
	if len(errs) > 0 {
		return nil, errs
	}
	scope := &hcl.EvalContext{Functions: funcs, Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": objectOrEmpty(locals)}}
	outputs := map[string]cty.Value{}
	for n, e := range m.outputs {
		val, d := e.Value(scope)
		if d.HasErrors() {
			problems = append(problems, fmt.Sprintf("output.%s: %s", n, d.Error()))
			continue
		}
		outputs[n] = val
	}
	if len(problems) > 0 {
		return nil, problems
	}
	assertCtx := &hcl.EvalContext{Functions: funcs, Variables: map[string]cty.Value{
		"var": cty.ObjectVal(vars), "output": objectOrEmpty(outputs), "run": objectOrEmpty(prior),
	}}
	for _, a := range r.asserts {
		ok, msg, err := check(a, assertCtx)
		if err != "" {
			problems = append(problems, "assert: "+err)
		} else if !ok {
			problems = append(problems, "assert failed: "+msg)
		}
	}
	return outputs, problems
}

// evalLocals resolves locals in dependency order: each pass evaluates the
// locals whose local.* references are all known.
func evalLocals(m *module, varCtx *hcl.EvalContext) (map[string]cty.Value, []string) {
	done := map[string]cty.Value{}
	for len(done) < len(m.locals) {
		progressed := false
		for n, e := range m.locals {
			if _, ok := done[n]; ok {
				continue
			}
			ready := true
			for _, t := range e.Variables() {
				if t.RootName() == "local" && len(t) > 1 {
					if a, ok := t[1].(hcl.TraverseAttr); ok {
						if _, known := done[a.Name]; !known {
							if _, declared := m.locals[a.Name]; !declared {
								return nil, []string{fmt.Sprintf("local.%s refers to undeclared local.%s", n, a.Name)}
							}
							ready = false
						}
					}
				}
			}
			if !ready {
				continue
			}
			ctx := &hcl.EvalContext{Functions: varCtx.Functions, Variables: map[string]cty.Value{"var": varCtx.Variables["var"], "local": objectOrEmpty(done)}}
			val, d := e.Value(ctx)
			if d.HasErrors() {
				return nil, []string{fmt.Sprintf("local.%s: %s", n, d.Error())}
			}
			done[n] = val
			progressed = true
		}
		if !progressed {
			return nil, []string{"locals refer to each other in a cycle"}
		}
	}
	return done, nil
}

func check(v validation, ctx *hcl.EvalContext) (bool, string, string) {
	cond, d := v.condition.Value(ctx)
	if d.HasErrors() {
		return false, "", d.Error()
	}
	cond, err := convert.Convert(cond, cty.Bool)
	if err != nil || cond.IsNull() || !cond.IsKnown() {
		return false, "", "condition is not a known bool"
	}
	msg := ""
	if mv, d := v.message.Value(ctx); !d.HasErrors() && mv.Type() == cty.String && mv.IsKnown() && !mv.IsNull() {
		msg = mv.AsString()
	}
	return cond.True(), msg, ""
}

func objectOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}
