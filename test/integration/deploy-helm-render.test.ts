// tools/helm-render behaves like `helm template` on the features charts use: include, tpl, required,
// toYaml/fromYaml, sprig (without env/expandenv), values merging (-f files, --set, null deletes a
// default), missingkey=zero with "<no value>" removed, .Release/.Chart/.Capabilities, _*.tpl not rendered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { renderDir } from '../helpers/deploy-helm.js';

type Any = any;

function chart(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockwatch-minichart-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const base = {
  'Chart.yaml': 'apiVersion: v2\nname: mini\nversion: 1.2.3\nappVersion: "9.9"\n',
  'values.yaml': 'name: world\nnested:\n  a: 1\n  b: two\nlist: [x, y]\ndropme: here\ntemplateText: "hello {{ .Values.name }}"\n',
  'templates/_helpers.tpl': '{{- define "mini.greet" -}}hi {{ .Values.name | upper }}{{- end }}\n',
};

test('helm-render: includes, sprig, tpl, toYaml/fromYaml, release and chart metadata', () => {
  const dir = chart({
    ...base,
    'templates/cm.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ .Release.Name }}-{{ .Chart.Name }}',
      '  namespace: {{ .Release.Namespace }}',
      'data:',
      '  greet: {{ include "mini.greet" . | quote }}',
      '  tpl: {{ tpl .Values.templateText . | quote }}',
      '  version: "{{ .Chart.Version }}/{{ .Chart.AppVersion }}"',
      '  missing: "[{{ .Values.nope }}]"',
      '  missingNested: "[{{ .Values.nested.nope }}]"',
      '  sprig: {{ list 3 1 2 | sortAlpha | join "," | quote }}',
      '  b64: {{ "abc" | b64enc | quote }}',
      '  hasMonitoring: "{{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}"',
      '  fromYaml: {{ (fromYaml "k: v").k | quote }}',
      '  dropme: "[{{ .Values.dropme }}]"',
      '  nested: |',
      '    {{- toYaml .Values.nested | nindent 4 }}',
    ].join('\n') + '\n',
  });
  const r = renderDir(dir, ['-name', 'rel', '-namespace', 'ns', '--set', 'nested.b=three', '--set', 'dropme=null']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^---\n# Source: mini\/templates\/cm\.yaml\n/);
  assert.doesNotMatch(r.stdout, /_helpers/);
  const cm: Any = parseYaml(r.stdout.replace(/^---\n/, ''));
  assert.equal(cm.metadata.name, 'rel-mini');
  assert.equal(cm.metadata.namespace, 'ns');
  assert.deepEqual(cm.data, {
    greet: 'hi WORLD', tpl: 'hello world', version: '1.2.3/9.9', missing: '[]', missingNested: '[]',
    sprig: '1,2,3', b64: 'YWJj', hasMonitoring: 'true', fromYaml: 'v', dropme: '[]', nested: 'a: 1\nb: three\n',
  });
});

test('helm-render: -f files merge in order over values.yaml, lists replace', () => {
  const dir = chart({ ...base, 'templates/x.yaml': 'v: {{ toYaml .Values | nindent 2 }}\n' });
  const f1 = path.join(dir, 'one.yaml');
  const f2 = path.join(dir, 'two.yaml');
  writeFileSync(f1, 'nested:\n  a: 10\nlist: [z]\n');
  writeFileSync(f2, 'nested:\n  c: new\n');
  const r = renderDir(dir, ['-f', f1, '-f', f2]);
  assert.equal(r.status, 0, r.stderr);
  const v: Any = parseYaml(r.stdout.replace(/^---\n# Source.*\n/, '')).v;
  assert.deepEqual(v.nested, { a: 10, b: 'two', c: 'new' });
  assert.deepEqual(v.list, ['z']);
});

test('helm-render: required fails the render; env/expandenv do not exist; empty output files are dropped', () => {
  const req = renderDir(chart({ ...base, 'templates/r.yaml': 'x: {{ required "need .Values.must" .Values.must }}\n' }), []);
  assert.notEqual(req.status, 0);
  assert.match(req.stderr, /need \.Values\.must/);
  const env = renderDir(chart({ ...base, 'templates/e.yaml': 'x: {{ env "HOME" }}\n' }), []);
  assert.notEqual(env.status, 0);
  assert.match(env.stderr, /function "env" not defined/);
  const empty = renderDir(chart({ ...base, 'templates/off.yaml': '{{- if .Values.enabled }}\nx: 1\n{{- end }}\n' }), []);
  assert.equal(empty.status, 0, empty.stderr);
  assert.equal(empty.stdout, '');
});
