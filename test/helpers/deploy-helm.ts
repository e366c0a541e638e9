// Builds tools/helm-render (Go text/template + sprig, offline from Debian packages) once per content
// hash of main.go, cached across runs, and renders the chart with it.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from './deploy-k8s.js';

const root = path.resolve(import.meta.dirname, '../..');
export const chartDir = path.join(root, 'helm/dockwatch');

export function helmRenderBinary(): string {
  const srcDir = path.join(root, 'tools/helm-render');
  const hash = createHash('sha256').update(readFileSync(path.join(srcDir, 'main.go'))).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), 'dockwatch-cache', `helm-render-${hash}`);
  const bin = path.join(dir, 'helm-render');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}`;
  execFileSync('go', ['build', '-o', tmp, '.'], {
    cwd: srcDir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOPROXY: 'off', GOFLAGS: '', GOCACHE: path.join(dir, 'gocache') },
  });
  renameSync(tmp, bin); // atomic: a concurrent run sees either nothing or the whole binary
  return bin;
}

export interface RenderResult { status: number; stdout: string; stderr: string }

export function renderChart(values: Record<string, unknown> = {}, opts: { notes?: boolean; name?: string; namespace?: string } = {}): RenderResult {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockwatch-helm-'));
  const file = path.join(dir, 'values.json'); // JSON is YAML
  writeFileSync(file, JSON.stringify(values));
  const args = ['-name', opts.name ?? 'dw', '-namespace', opts.namespace ?? 'monitoring', '-f', file];
  if (opts.notes) args.push('-notes');
  const r = spawnSync(helmRenderBinary(), [...args, chartDir], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function renderObjects(values: Record<string, unknown> = {}): K8sObject[] {
  const r = renderChart(values);
  if (r.status !== 0) throw new Error(`render failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => {
    if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0]?.message}`);
    return d.toJS() as K8sObject;
  }).filter((o) => o);
}

/** Runs the renderer on any chart directory with raw arguments. */
export function renderDir(dir: string, args: string[]): RenderResult {
  const r = spawnSync(helmRenderBinary(), [...args, dir], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
