// helm-render: renders a Helm chart the way `helm template` does, offline, for tests.
// Go text/template + sprig (minus env/expandenv, as helm), plus helm's include, tpl, required,
// toYaml, fromYaml, toJson; values = values.yaml deep-merged with -f files and --set a.b=c;
// missingkey=zero with "<no value>" removed, as helm does. Output: the rendered templates
// (not _*.tpl, not NOTES.txt unless -notes), each as "---\n# Source: chart/templates/x.yaml".
//
// Build (Debian packages, no network): GO111MODULE=off GOPATH=/usr/share/gocode go build
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var valueFiles, sets multiFlag
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	notes := flag.Bool("notes", false, "render templates/NOTES.txt only")
	flag.Var(&valueFiles, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "a.b=c (repeatable; true/false/ints parsed)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-name n] [-namespace ns] [-f values.yaml] [-set a.b=c] CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *name, *namespace, valueFiles, sets, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	b, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return normalize(m).(map[string]interface{}), nil
}

// normalize turns yaml.v2's map[interface{}]interface{} into map[string]interface{} recursively,
// as helm's values are.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, val := range t {
			m[fmt.Sprint(k)] = normalize(val)
		}
		return m
	case map[string]interface{}:
		for k, val := range t {
			t[k] = normalize(val)
		}
		return t
	case []interface{}:
		for i, val := range t {
			t[i] = normalize(val)
		}
		return t
	}
	return v
}

// merge overlays src onto dst: maps merge recursively, anything else replaces; null deletes (as helm).
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func parseSet(s string, into map[string]interface{}) error {
	eq := strings.Index(s, "=")
	if eq < 1 {
		return fmt.Errorf("bad --set %q", s)
	}
	keys := strings.Split(s[:eq], ".")
	raw := s[eq+1:]
	var val interface{} = raw
	switch {
	case raw == "true":
		val = true
	case raw == "false":
		val = false
	case raw == "null":
		val = nil
	default:
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			val = n
		}
	}
	m := into
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = val
	return nil
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func render(chartDir, release, namespace string, valueFiles, sets []string, notesOnly bool) (string, error) {
	chart, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		over, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		values = merge(values, over)
	}
	setVals := map[string]interface{}{}
	for _, s := range sets {
		if err := parseSet(s, setVals); err != nil {
			return "", err
		}
	}
	values = merge(values, setVals)

	str := func(k string) string { s, _ := chart[k].(string); return s }
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": str("name"), "Version": str("version"), "AppVersion": str("appVersion"),
			"Description": str("description"), "Type": str("type"),
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0"},
			"APIVersions": apiVersions{"v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1", "monitoring.coreos.com/v1"},
			"HelmVersion": map[string]interface{}{"Version": "v3.15.0"},
		},
		"Template": map[string]interface{}{"BasePath": filepath.Join(str("name"), "templates")},
	}

	tmplDir := filepath.Join(chartDir, "templates")
	var files []string
	err = filepath.Walk(tmplDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)

	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includeDepth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 100 {
			return "", errors.New("include: recursion too deep")
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return strings.Replace(buf.String(), "<no value>", "", -1), nil
	}
	sources := map[string]string{}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		// A parsed set cannot be cloned once executed: build a fresh one that knows every named template.
		t := template.New("tpl").Option("missingkey=zero").Funcs(funcs)
		for name, src := range sources {
			if _, err := t.New(name).Parse(src); err != nil {
				return "", err
			}
		}
		body, err := t.New("tpl-body").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := body.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.Replace(buf.String(), "<no value>", "", -1), nil
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return normalize(m).(map[string]interface{})
	}
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} { return map[string]interface{}{} }
	root.Funcs(funcs)

	names := map[string]string{}
	for _, f := range files {
		b, err := ioutil.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(chartDir, f)
		name := filepath.Join(str("name"), rel)
		names[f] = name
		sources[name] = string(b)
		if _, err := root.New(name).Parse(string(b)); err != nil {
			return "", err
		}
	}

	var out strings.Builder
	for _, f := range files {
		base := filepath.Base(f)
		isNotes := base == "NOTES.txt"
		if notesOnly != isNotes || strings.HasPrefix(base, "_") {
			continue
		}
		if !isNotes && !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml") || strings.HasSuffix(base, ".tpl")) {
			continue
		}
		top["Template"].(map[string]interface{})["Name"] = names[f]
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, names[f], top); err != nil {
			return "", err
		}
		text := strings.Replace(buf.String(), "<no value>", "", -1)
		if isNotes {
			out.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", names[f], strings.TrimSpace(text))
	}
	return out.String(), nil
}

// apiVersions supports `.Capabilities.APIVersions.Has "x"` as in helm.
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}
