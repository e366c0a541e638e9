// terraform/: formatted, and structurally sound as far as can be told offline (providers cannot be
// downloaded here, so `init`/`validate` cannot run): every reference resolves, no secret literal,
// nothing sensitive is open to the internet, the gRPC target group really speaks gRPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { formatHclLayout, layoutDifference, mangleHclLayout } from '../helpers/hcl-layout.js';

type Any = any;
const root = path.resolve(import.meta.dirname, '../../terraform');
const moduleDir = path.join(root, 'modules/dockwatch-agent-sidecar');

async function load(dir: string): Promise<{ merged: Any; text: string }> {
  const merged: Any = {};
  let text = '';
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.tf')).sort()) {
    const src = readFileSync(path.join(dir, f), 'utf8');
    text += src;
    const j = (await parse(f, src)) as Any;
    for (const [block, body] of Object.entries(j)) {
      if (block === 'locals') {
        merged.locals = [...(merged.locals ?? []), ...(body as Any[])];
        continue;
      }
      merged[block] ??= {};
      for (const [k, v] of Object.entries(body as Any)) {
        if (block === 'resource' || block === 'data') {
          merged[block][k] = { ...(merged[block][k] ?? {}), ...(v as Any) };
        } else if (block === 'terraform' || block === 'provider') {
          merged[block][k] = v;
        } else {
          assert.equal(merged[block][k], undefined, `${block} ${k} declared twice`);
          merged[block][k] = v;
        }
      }
    }
  }
  return { merged, text };
}

/** Every string inside a parsed value. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => strings(x, out));
  return out;
}

function refs(all: string[], re: RegExp): Set<string> {
  const out = new Set<string>();
  for (const s of all) for (const m of s.matchAll(re)) out.add(m[1]!);
  return out;
}

function tfFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tfFiles(p) : e.name.endsWith('.tf') ? [p] : [];
  }).sort();
}

/** terraform where it is installed (CI's machine has it in /usr/local/bin; Debian and npm do not package it). */
function terraformBinary(): { run: (args: string[], input?: string) => string } | null {
  if (spawnSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' }).status !== 0) return null;
  const rc = path.join(mkdtempSync(path.join(os.tmpdir(), 'dockwatch-tf-')), 'empty.tfrc');
  writeFileSync(rc, '');
  return {
    run: (args, input) => execFileSync('terraform', args, {
      env: { ...process.env, TF_CLI_CONFIG_FILE: rc }, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
    }),
  };
}

// Issue 13, item 5: a fresh machine has no terraform binary, so the layout is checked by our own
// rules everywhere, and by terraform fmt itself where the binary exists; the test says which ran.
test('terraform/ is formatted: the layout rules of terraform fmt everywhere, terraform fmt -check where installed', (t) => {
  for (const f of tfFiles(root)) {
    const diff = layoutDifference(readFileSync(f, 'utf8'));
    assert.equal(diff, null, `${path.relative(root, f)} is not laid out as terraform fmt would: ${JSON.stringify(diff)}`);
  }
  const tf = terraformBinary();
  if (!tf) {
    t.diagnostic('terraform is not installed: checked indentation, alignment of = and comments, and whitespace with test/helpers/hcl-layout.ts only (not terraform fmt\'s spacing inside a line)');
    return;
  }
  // Throws (non-zero exit) and lists the files when formatting differs.
  tf.run(['fmt', '-check', '-recursive', root]);
  t.diagnostic(`checked with ${tf.run(['version']).split('\n')[0]} (fmt -check) and the layout rules`);
});

test('the layout rules agree with terraform fmt on mangled copies of every file (where terraform is installed)', (t) => {
  const tf = terraformBinary();
  if (!tf) {
    // Nothing to compare with; the rules themselves are still exercised by the test below.
    t.diagnostic('terraform is not installed: comparison with terraform fmt not run');
    return;
  }
  for (const f of tfFiles(root)) {
    for (const pad of [1, 5]) {
      const mangled = mangleHclLayout(readFileSync(f, 'utf8'), pad);
      assert.equal(formatHclLayout(mangled), tf.run(['fmt', '-'], mangled), `${path.relative(root, f)}, pad ${pad}`);
    }
  }
});

test('the layout check finds a bad indent, a misaligned = or comment, and trailing spaces', () => {
  const good = readFileSync(path.join(root, 'ecs.tf'), 'utf8');
  assert.equal(layoutDifference(good), null);
  assert.equal(formatHclLayout(mangleHclLayout(good, 3)), good, 'rebuilds the file from a mangled copy');
  const cases: Array<[string, string]> = [
    ['  name = local.name', '    name = local.name'],
    ['    name  = "containerInsights"', '    name = "containerInsights"'],
    ['  server_tls             = false             # plaintext', '  server_tls             = false  # plaintext'],
    ['  aws_region             = var.aws_region', '  aws_region             = var.aws_region '],
  ];
  for (const [from, to] of cases) {
    assert.ok(good.includes(from), from);
    const bad = good.replace(from, to);
    const diff = layoutDifference(bad);
    assert.ok(diff, `not found: ${JSON.stringify(to)}`);
    assert.ok(diff.actual.startsWith(to), `${diff.actual} starts with ${to}`);
  }
  assert.ok(layoutDifference(`${good}\n`), 'two final newlines');
  assert.throws(() => layoutDifference('x = <<EOT\nhi\nEOT\n'), /heredocs/);
});

for (const [label, dir] of [['root', root], ['agent sidecar module', moduleDir]] as const) {
  test(`${label}: every var.*, local.*, module.* and resource reference is declared`, async () => {
    const { merged } = await load(dir);
    const all = strings(merged);
    const declaredVars = new Set(Object.keys(merged.variable ?? {}));
    for (const v of refs(all, /\bvar\.([A-Za-z_][\w-]*)/g)) assert.ok(declaredVars.has(v), `var.${v} is declared`);
    const declaredLocals = new Set((merged.locals ?? []).flatMap((l: Any) => Object.keys(l)));
    for (const l of refs(all, /\blocal\.([A-Za-z_][\w-]*)/g)) assert.ok(declaredLocals.has(l), `local.${l} is declared`);
    for (const r of refs(all, /(?<![\w.])((?:aws|random)_\w+\.\w+)/g)) {
      const [type, name] = r.split('.') as [string, string];
      assert.ok(merged.resource?.[type]?.[name], `resource ${r} is declared`);
    }
    for (const r of refs(all, /\bdata\.(\w+\.\w+)/g)) {
      const [type, name] = r.split('.') as [string, string];
      assert.ok(merged.data?.[type]?.[name], `data ${r} is declared`);
    }
  });
}

test('root: outputs and variables the deployment promises exist; sensitive inputs are marked', async () => {
  const { merged } = await load(root);
  for (const v of ['aws_region', 'environment', 'ecr_repository_url', 'influxdb_url', 'influxdb_token', 'certificate_arn']) {
    assert.ok(merged.variable[v], `variable ${v}`);
  }
  assert.equal(merged.variable.influxdb_token[0].sensitive, true);
  assert.ok(merged.output.alb_dns_name[0].value.includes('aws_lb.main.dns_name'));
  for (const [name, v] of Object.entries(merged.variable as Record<string, Any[]>)) {
    if (/token|password|secret/i.test(name)) {
      assert.equal(v[0].sensitive, true, `${name} is sensitive`);
      assert.equal(v[0].default, undefined, `${name} has no default value`);
    }
  }
});

test('the agent sidecar module is used with its declared inputs and its outputs exist', async () => {
  const { merged: rootTf } = await load(root);
  const { merged: mod } = await load(moduleDir);
  const call = rootTf.module.agent_sidecar[0];
  assert.equal(call.source, './modules/dockwatch-agent-sidecar');
  const inputs = Object.keys(call).filter((k) => !['source', 'version', 'count', 'for_each', 'depends_on', 'providers'].includes(k));
  for (const i of inputs) assert.ok(mod.variable[i], `module input ${i} is a variable of the module`);
  for (const [name, v] of Object.entries(mod.variable as Record<string, Any[]>)) {
    if (v[0].default === undefined) assert.ok(inputs.includes(name), `required module input ${name} is passed`);
  }
  for (const o of refs(strings(rootTf), /\bmodule\.agent_sidecar\.(\w+)/g)) assert.ok(mod.output[o], `module output ${o}`);
  const def = mod.locals[0].container_definition;
  assert.equal(def.essential, false, 'a failing sidecar never stops the workload');
  assert.ok(def.secrets.some((s: Any) => s.name === 'AGENT_TOKEN' && s.valueFrom === '${var.agent_token_secret_arn}'));
  assert.ok(!strings(def.environment).some((s) => /AGENT_TOKEN/.test(s)), 'the token is a secret, not an env value');
});

test('no secret literal: secret-named attributes hold references only, and no key-like strings appear', async () => {
  for (const dir of [root, moduleDir]) {
    const { merged, text } = await load(dir);
    const walk = (v: unknown, at: string): void => {
      if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${at}[${i}]`));
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if (/password|secret_string|token|api_key|private_key|auth_token|access_key/i.test(k) && typeof x === 'string' && k !== 'description') {
          assert.ok(x.includes('${'), `${at}.${k} is a reference, not a literal`);
        }
        if (k === 'environment' && Array.isArray(x)) {
          for (const e of x as Any[]) {
            if (e && typeof e.name === 'string') assert.ok(!/SECRET|TOKEN|PASSWORD/.test(e.name), `${at}: ${e.name} belongs in secrets, not environment`);
          }
        }
        walk(x, `${at}.${k}`);
      }
    };
    walk(merged, path.basename(dir));
    assert.doesNotMatch(text, /AKIA[0-9A-Z]{16}/, 'no AWS access key');
    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  }
  // Every secret the server reads comes from Secrets Manager.
  const { merged } = await load(root);
  const ecs = strings(merged.locals.find((l: Any) => l.server_container)?.server_container.secrets);
  for (const name of ['JWT_SECRET', 'AGENT_TOKEN', 'INFLUXDB_TOKEN']) assert.ok(ecs.includes(name), name);
  assert.ok(merged.resource.aws_secretsmanager_secret_version.influxdb_token[0].secret_string === '${var.influxdb_token}');
});

test('no security group opens gRPC, Redis or InfluxDB ports to the internet', async () => {
  const { merged } = await load(root);
  const sensitive = [50051, 6379, 8086];
  const open = (v: unknown): boolean => strings(v).some((s) => s === '0.0.0.0/0' || s === '::/0');
  const variableMayBeOpen = (name: string): boolean => {
    const v = merged.variable[name]?.[0];
    assert.ok(v, `var.${name} exists`);
    if (open(v.default)) return true;
    // Without a validation refusing 0.0.0.0/0, a user could pass it.
    return !strings(v.validation).some((s) => s.includes('0.0.0.0/0') && s.includes('::/0'));
  };
  const rules: Array<{ at: string; from: number; to: number; cidr: unknown; forEach?: string }> = [];
  for (const [name, [r]] of Object.entries((merged.resource.aws_vpc_security_group_ingress_rule ?? {}) as Record<string, Any[]>)) {
    rules.push({ at: `aws_vpc_security_group_ingress_rule.${name}`, from: r.from_port, to: r.to_port, cidr: [r.cidr_ipv4, r.cidr_ipv6], forEach: r.for_each });
  }
  for (const [name, [r]] of Object.entries((merged.resource.aws_security_group_rule ?? {}) as Record<string, Any[]>)) {
    if (r.type === 'ingress') rules.push({ at: `aws_security_group_rule.${name}`, from: r.from_port, to: r.to_port, cidr: [r.cidr_blocks, r.ipv6_cidr_blocks] });
  }
  for (const [name, [sg]] of Object.entries(merged.resource.aws_security_group as Record<string, Any[]>)) {
    for (const r of sg.ingress ?? []) rules.push({ at: `aws_security_group.${name}.ingress`, from: r.from_port, to: r.to_port, cidr: [r.cidr_blocks, r.ipv6_cidr_blocks] });
  }
  assert.ok(rules.length >= 5);
  let checked = 0;
  for (const r of rules) {
    const touches = sensitive.filter((p) => (r.from === -1 || r.from === 0 && r.to === 0) || (p >= r.from && p <= r.to));
    if (!touches.length) continue;
    checked++;
    assert.ok(!open(r.cidr), `${r.at} opens ${touches} to the internet`);
    const viaVar = [...strings(r.cidr), r.forEach ?? ''].flatMap((s) => [...s.matchAll(/var\.(\w+)/g)].map((m) => m[1]!));
    for (const v of viaVar) assert.ok(!variableMayBeOpen(v), `${r.at} takes CIDRs from var.${v}, which may be 0.0.0.0/0`);
  }
  assert.ok(checked >= 3, 'the gRPC and Redis rules were found and checked');
  // The dashboard ports use allowed_cidrs, the gRPC port agent_cidrs.
  assert.match(merged.resource.aws_vpc_security_group_ingress_rule.alb_grpc[0].for_each, /var\.agent_cidrs/);
});

test('ALB: HTTPS to 8080 and a gRPC listener with an ACM certificate to a GRPC target group on 50051', async () => {
  const { merged } = await load(root);
  const tgs = merged.resource.aws_lb_target_group;
  assert.equal(tgs.grpc[0].protocol_version, 'GRPC');
  assert.equal(tgs.grpc[0].port, 50051);
  assert.equal(tgs.http[0].port, 8080);
  assert.equal(tgs.http[0].health_check[0].path, '/health');
  const listeners = merged.resource.aws_lb_listener;
  const grpc = Object.values(listeners as Record<string, Any[]>).map((l) => l[0]).find((l: Any) => l.default_action[0].target_group_arn === '${aws_lb_target_group.grpc.arn}');
  assert.ok(grpc);
  assert.equal(grpc.protocol, 'HTTPS', 'gRPC on an ALB needs an HTTPS listener');
  assert.equal(grpc.certificate_arn, '${var.certificate_arn}');
  const svc = merged.resource.aws_ecs_service.server[0];
  assert.deepEqual(svc.load_balancer.map((lb: Any) => lb.container_port).sort(), [50051, 8080]);
  assert.equal(svc.launch_type, 'FARGATE');
  assert.equal(svc.network_configuration[0].assign_public_ip, false);
  assert.match(svc.network_configuration[0].subnets, /aws_subnet\.private/);
});

test('README covers cost and teardown', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  assert.match(readme, /## Cost/);
  assert.match(readme, /## Teardown/);
  assert.match(readme, /terraform destroy/);
});
