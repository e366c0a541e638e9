// Offline Kubernetes object checks for the deployment tests:
//  1. kubernetes-models' validate() (types, enums, required fields: what the API server's schema checks);
//  2. an unknown-field walk, which validate() skips: every key of the object must be a field of the
//     Kubernetes type, read from kubernetes-models' own TypeScript declarations via the TS checker.
import { createRequire } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

const require = createRequire(import.meta.url);

/** apiVersion/kind -> [package, module path inside it]. */
function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export function describe(o: K8sObject): string {
  return `${o.kind}/${o.metadata?.name ?? '?'}`;
}

/** Schema validation by kubernetes-models; throws with the object's name on failure. */
export function validateModel(o: K8sObject): void {
  const mod = require(modelModule(o.apiVersion, o.kind)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Cls = mod[o.kind];
  if (!Cls) throw new Error(`${describe(o)}: no model for ${o.apiVersion} ${o.kind}`);
  try {
    new Cls(o).validate();
  } catch (e) {
    throw new Error(`${describe(o)}: ${(e as Error).message}`);
  }
}

let checkerCache: { checker: ts.TypeChecker; types: Map<string, ts.Type> } | undefined;
const wanted = new Set<string>();

function checkerFor(keys: string[]): { checker: ts.TypeChecker; types: Map<string, ts.Type> } {
  if (checkerCache && keys.every((k) => checkerCache!.types.has(k))) return checkerCache;
  for (const k of keys) wanted.add(k);
  const entries = [...wanted];
  const file = path.join(process.cwd(), '__deploy_k8s_types__.ts');
  const src = entries.map((k, i) => {
    const [apiVersion, kind] = k.split('|') as [string, string];
    return `import type { I${kind} as T${i} } from '${modelModule(apiVersion, kind)}';\nexport type K${i} = T${i};`;
  }).join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, strict: true,
    noEmit: true, skipLibCheck: true, types: [],
  };
  const host = ts.createCompilerHost(options);
  const orig = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === file ? ts.createSourceFile(name, src, lang) : orig(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(file)!;
  const types = new Map<string, ts.Type>();
  const moduleSym = checker.getSymbolAtLocation(sf)!;
  const exports = checker.getExportsOfModule(moduleSym);
  entries.forEach((k, i) => {
    const sym = exports.find((s) => s.name === `K${i}`);
    if (!sym) throw new Error(`no type for ${k}`);
    const t = checker.getDeclaredTypeOfSymbol(sym);
    if (t.getProperties().length === 0) throw new Error(`type for ${k} did not resolve (is the model package installed?)`);
    types.set(k, t);
  });
  checkerCache = { checker, types };
  return checkerCache;
}

/** Every field path of `o` that its Kubernetes type does not declare. */
export function unknownFields(o: K8sObject): string[] {
  const key = `${o.apiVersion}|${o.kind}`;
  const { checker, types } = checkerFor([key]);
  const out: string[] = [];
  const walk = (value: unknown, type: ts.Type, at: string): void => {
    if (value === null || typeof value !== 'object') return;
    type = checker.getNonNullableType(type);
    if (Array.isArray(value)) {
      const el = checker.isArrayType(type) ? checker.getTypeArguments(type as ts.TypeReference)[0] : undefined;
      if (el) value.forEach((v, i) => walk(v, el, `${at}[${i}]`));
      return;
    }
    // Unions of primitives (IntOrString, Quantity) or free-form objects have nothing to check.
    const objectType = type.isUnion() ? type.types.find((t) => (t.flags & ts.TypeFlags.Object) !== 0) : type;
    if (!objectType || (objectType.flags & ts.TypeFlags.Object) === 0) return;
    const index = checker.getIndexInfoOfType(objectType, ts.IndexKind.String);
    for (const [k, v] of Object.entries(value)) {
      const prop = checker.getPropertyOfType(objectType, k);
      if (prop) {
        walk(v, checker.getTypeOfSymbol(prop), `${at}.${k}`);
      } else if (index) {
        walk(v, index.type, `${at}.${k}`);
      } else if (checker.getPropertiesOfType(objectType).length > 0) {
        out.push(`${at}.${k}`);
      }
    }
  };
  walk(o, types.get(key)!, describe(o));
  return out;
}

/** Both checks; throws listing every problem. */
export function checkObject(o: K8sObject): void {
  validateModel(o);
  const unknown = unknownFields(o);
  if (unknown.length) throw new Error(`${describe(o)}: unknown fields ${unknown.join(', ')}`);
}
