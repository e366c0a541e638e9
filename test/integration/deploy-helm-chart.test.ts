// helm/dockwatch rendered by tools/helm-render (Go text/template + sprig, as helm): default values and
// each toggle produce schema-valid objects with no unknown field; values.schema.json refuses typos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Ajv } from 'ajv';
import { checkObject, type K8sObject } from '../helpers/deploy-k8s.js';
import { chartDir, renderChart, renderObjects } from '../helpers/deploy-helm.js';

type Any = any;
const schema = JSON.parse(readFileSync(`${chartDir}/values.schema.json`, 'utf8'));
const defaults = parseYaml(readFileSync(`${chartDir}/values.yaml`, 'utf8'));
const validateValues = new Ajv({ allErrors: true, strict: false }).compile(schema);

/** What helm does before rendering: defaults deep-merged with the user's values, checked against the schema. */
function merged(over: Record<string, unknown>): unknown {
  const merge = (a: Any, b: Any): Any => {
    if (b && typeof b === 'object' && !Array.isArray(b) && a && typeof a === 'object' && !Array.isArray(a)) {
      const out = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
      return out;
    }
    return b;
  };
  return merge(defaults, over);
}
function schemaErrors(over: Record<string, unknown>): string[] {
  return validateValues(merged(over)) ? [] : (validateValues.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

const byKind = (objs: K8sObject[], kind: string): Any[] => objs.filter((o) => o.kind === kind);
const one = (objs: K8sObject[], kind: string, suffix = ''): Any => {
  const found = objs.filter((o) => o.kind === kind && (o.metadata?.name ?? '').endsWith(suffix));
  assert.equal(found.length, 1, `exactly one ${kind} *${suffix}`);
  return found[0];
};

const toggles: Record<string, Record<string, unknown>> = {
  defaults: {},
  externalStores: { influxdb: { enabled: false, external: { url: 'https://influx.example.com' } }, redis: { enabled: false, external: { url: 'rediss://redis.example.com:6379' } } },
  existingSecret: { secrets: { existingSecret: 'my-dockwatch' } },
  ingressTls: { ingress: { enabled: true, className: 'nginx', host: 'dw.example.org', tls: { enabled: true }, annotations: { 'cert-manager.io/cluster-issuer': 'le' } } },
  serviceMonitor: { serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } } },
  scheduling: {
    server: { nodeSelector: { pool: 'apps' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'apps', effect: 'NoSchedule' }], affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'server' } } } }] } }, resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: 2, memory: '1Gi' } } },
    agent: { nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [], affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'docker', operator: 'In', values: ['true'] }] }] } } }, resources: { limits: { memory: '96Mi' } } },
  },
  noAutoscalingNoPdb: { server: { autoscaling: { enabled: false }, pdb: { enabled: false }, replicaCount: 3 }, networkPolicy: { enabled: false }, agent: { enabled: false } },
};

test('every toggle passes the values schema and renders schema-valid objects with no unknown field', () => {
  for (const [name, values] of Object.entries(toggles)) {
    assert.deepEqual(schemaErrors(values), [], `${name}: values accepted`);
    const objs = renderObjects(values);
    assert.ok(objs.length > 0, name);
    for (const o of objs) {
      try { checkObject(o); } catch (e) { throw new Error(`${name}: ${(e as Error).message}`); }
      assert.equal(o.metadata?.namespace, 'monitoring', `${name}: ${o.kind} is in the release namespace`);
    }
  }
});

test('default render covers every kind of object in k8s/', () => {
  const k8sKinds = new Set(readdirSync(new URL('../../k8s/', import.meta.url)).flatMap((f) =>
    parseAllDocuments(readFileSync(new URL(`../../k8s/${f}`, import.meta.url), 'utf8')).map((d) => (d.toJS() as K8sObject).kind)));
  k8sKinds.delete('Namespace'); // helm installs into --namespace
  const rendered = renderObjects({});
  const kinds = new Set(rendered.map((o) => o.kind));
  // The Ingress and the HPA are off by default; their toggles render them.
  kinds.add(one(renderObjects(toggles.ingressTls!), 'Ingress').kind);
  kinds.add(one(renderObjects({ server: { autoscaling: { enabled: true } } }), 'HorizontalPodAutoscaler').kind);
  for (const k of k8sKinds) assert.ok(kinds.has(k), `chart renders a ${k}`);
  const d = one(rendered, 'StatefulSet', '-server');
  assert.equal(d.spec.replicas, 3, 'three replicas on the shared Redis by default');
  assert.equal(byKind(rendered, 'HorizontalPodAutoscaler').length, 0, 'autoscaling is opt-in');
  const c = d.spec.template.spec.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, '/health');
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.match(one(rendered, 'StatefulSet', '-influxdb').spec.template.spec.containers[0].image, /^influxdb:2\.\d+$/);
  assert.match(one(rendered, 'Deployment', '-redis').spec.template.spec.containers[0].image, /^redis:7/);
  assert.equal(byKind(rendered, 'NetworkPolicy').length, 2);
  // Generated secrets: every key the pods reference exists, values are not empty.
  const secret = one(rendered, 'Secret');
  for (const v of Object.values(secret.data as Record<string, string>)) assert.ok(Buffer.from(v, 'base64').toString().length >= 16);
  const refs = rendered.flatMap((o: Any) => JSON.stringify(o).match(/"secretKeyRef":\{[^}]*\}/g) ?? []);
  assert.ok(refs.length >= 6);
  for (const r of refs) {
    const { name, key } = JSON.parse(r.slice('"secretKeyRef":'.length));
    assert.equal(name, secret.metadata.name);
    assert.ok(key in secret.data, key);
  }
});

test('external InfluxDB/Redis: no bundled stores, no policies for them, URLs wired', () => {
  const objs = renderObjects(toggles.externalStores!);
  assert.deepEqual(byKind(objs, 'StatefulSet').map((o) => o.metadata.name), ['dw-dockwatch-server'], 'only the server');
  assert.ok(!objs.some((o) => o.metadata?.name?.endsWith('-redis')));
  assert.equal(byKind(objs, 'NetworkPolicy').length, 0);
  const cm = one(objs, 'ConfigMap');
  assert.equal(cm.data.INFLUXDB_URL, 'https://influx.example.com');
  assert.equal(cm.data.REDIS_URL, 'rediss://redis.example.com:6379');
  // Like helm's `required`: an external store without its URL refuses to render, and the schema refuses it too.
  const r = renderChart({ influxdb: { enabled: false } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /influxdb\.external\.url is required/);
  assert.ok(schemaErrors({ redis: { enabled: false } }).length > 0);
});

test('existingSecret: no Secret is created and every reference uses it', () => {
  const objs = renderObjects(toggles.existingSecret!);
  assert.equal(byKind(objs, 'Secret').length, 0);
  const names = new Set(objs.flatMap((o) => [...JSON.stringify(o).matchAll(/"secretKeyRef":\{"name":"([^"]+)"/g)].map((m) => m[1])));
  assert.deepEqual([...names], ['my-dockwatch']);
});

test('replicas: agents spread over the server pods through the headless Service; a PDB keeps all but one up; the HPA is opt-in', () => {
  const objs = renderObjects({});
  const headless = one(objs, 'Service', '-grpc-headless');
  assert.equal(headless.spec.clusterIP, 'None');
  assert.deepEqual(headless.spec.selector, one(objs, 'StatefulSet', '-server').spec.selector.matchLabels);
  assert.deepEqual(headless.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]), [['grpc', 50051, 'grpc']]);
  const env = one(objs, 'DaemonSet').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
  assert.equal(env.find((e) => e.name === 'SERVER_ADDR')?.value, 'dw-dockwatch-grpc-headless.monitoring.svc:50051');
  const pdb = one(objs, 'PodDisruptionBudget');
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.equal(pdb.spec.minAvailable, undefined);
  assert.deepEqual(pdb.spec.selector.matchLabels, headless.spec.selector);
  assert.equal(one(renderObjects({ server: { pdb: { minAvailable: '50%' } } }), 'PodDisruptionBudget').spec.minAvailable, '50%');
  const hpa = renderObjects({ server: { autoscaling: { enabled: true } } });
  assert.equal(one(hpa, 'HorizontalPodAutoscaler').spec.minReplicas, 3);
  assert.equal(one(hpa, 'StatefulSet', '-server').spec.replicas, undefined, 'the HPA owns the replica count');
});

test('the server spool survives its pod: a StatefulSet with a PVC per replica by default, a Deployment with an emptyDir when persistence is off; both drain on SIGTERM', () => {
  const objs = renderObjects({ server: { persistence: { size: '2Gi', storageClass: 'fast' } } });
  const sts = one(objs, 'StatefulSet', '-server');
  assert.equal(byKind(objs, 'Deployment').some((o) => o.metadata.name.endsWith('-server')), false);
  assert.equal(sts.spec.serviceName, 'dw-dockwatch-grpc-headless');
  assert.equal(sts.spec.podManagementPolicy, 'Parallel');
  const [claim] = sts.spec.volumeClaimTemplates;
  assert.equal(claim.metadata.name, 'data');
  assert.deepEqual([claim.spec.resources.requests.storage, claim.spec.storageClassName], ['2Gi', 'fast']);
  const pod = sts.spec.template.spec;
  assert.equal(pod.volumes.some((v: Any) => v.name === 'data'), false, 'data comes from the claim, not an emptyDir');
  assert.ok(pod.containers[0].volumeMounts.some((m: Any) => m.name === 'data' && m.mountPath === '/data'));
  // The kubelet waits for the preStop sleep plus the server's own 30 s shutdown (acks, then the spool written to InfluxDB).
  assert.equal(pod.terminationGracePeriodSeconds, 45);
  assert.deepEqual(pod.containers[0].lifecycle.preStop.exec.command, ['node', '-e', 'setTimeout(() => {}, 5000)']);
  assert.equal(one(renderObjects({ server: { autoscaling: { enabled: true } } }), 'HorizontalPodAutoscaler').spec.scaleTargetRef.kind, 'StatefulSet');

  const eph = renderObjects({ server: { persistence: { enabled: false }, preStopSleepSeconds: 0, autoscaling: { enabled: true } } });
  assert.equal(byKind(eph, 'StatefulSet').some((o) => o.metadata.name.endsWith('-server')), false);
  const d = one(eph, 'Deployment', '-server');
  assert.deepEqual(d.spec.template.spec.volumes.find((v: Any) => v.name === 'data'), { name: 'data', emptyDir: {} });
  assert.equal(d.spec.template.spec.terminationGracePeriodSeconds, 45);
  assert.equal(d.spec.template.spec.containers[0].lifecycle, undefined, 'no preStop at 0 s');
  assert.equal(one(eph, 'HorizontalPodAutoscaler').spec.scaleTargetRef.kind, 'Deployment');
  assert.ok(schemaErrors({ server: { terminationGracePeriodSeconds: 10 } }).length > 0, 'shorter than the server\'s own shutdown');
});

test('ingress with TLS, ServiceMonitor, and scheduling settings land where they belong', () => {
  const ing = one(renderObjects(toggles.ingressTls!), 'Ingress');
  assert.deepEqual(ing.spec.tls, [{ hosts: ['dw.example.org'], secretName: 'dw-dockwatch-tls' }]);
  assert.equal(ing.spec.ingressClassName, 'nginx');
  assert.equal(ing.metadata.annotations['cert-manager.io/cluster-issuer'], 'le');
  assert.equal(one(renderObjects(toggles.ingressTls!), 'ConfigMap').data.PUBLIC_URL, 'https://dw.example.org');

  const sm = one(renderObjects(toggles.serviceMonitor!), 'ServiceMonitor');
  assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack');
  assert.equal(sm.spec.endpoints[0].port, 'metrics');
  assert.equal(byKind(renderObjects({}), 'ServiceMonitor').length, 0);

  const objs = renderObjects(toggles.scheduling!);
  const server = one(objs, 'StatefulSet', '-server').spec.template.spec;
  const agent = one(objs, 'DaemonSet').spec.template.spec;
  assert.deepEqual(server.nodeSelector, { pool: 'apps' });
  assert.equal(server.tolerations[0].key, 'dedicated');
  assert.ok(server.affinity.podAntiAffinity);
  assert.deepEqual(server.containers[0].resources.requests, { cpu: '250m', memory: '256Mi' });
  assert.deepEqual(agent.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.equal(agent.tolerations, undefined);
  assert.ok(agent.affinity.nodeAffinity);
  // Maps merge as in helm: the default cpu limit stays, memory is overridden.
  assert.deepEqual(agent.containers[0].resources.limits, { cpu: '250m', memory: '96Mi' });

  const fixed = renderObjects(toggles.noAutoscalingNoPdb!);
  assert.equal(one(fixed, 'StatefulSet', '-server').spec.replicas, 3);
  for (const k of ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'DaemonSet']) assert.equal(byKind(fixed, k).length, 0, k);
});

test('values.schema.json refuses typos and wrong types at every level', () => {
  assert.deepEqual(schemaErrors({}), []);
  const bad: Array<[string, Record<string, unknown>]> = [
    ['top-level typo', { ingres: { enabled: true } }],
    ['nested typo', { server: { replicaCont: 3 } }],
    ['deep typo', { ingress: { tls: { enabeld: true } } }],
    ['resources typo', { agent: { resources: { limit: { cpu: 1 } } } }],
    ['wrong type', { server: { autoscaling: { enabled: 'yes' } } }],
    ['bad enum', { server: { logLevel: 'verbose' } }],
    ['bad duration', { agent: { collectInterval: 'fast' } }],
    ['bad port', { server: { ports: { http: 70000 } } }],
  ];
  for (const [what, values] of bad) assert.ok(schemaErrors(values).length > 0, what);
  assert.match(schemaErrors({ server: { replicaCont: 3 } }).join(), /additionalProperty.*replicaCont/);
});

test('NOTES.txt says how to reach the dashboard and where the admin password is', () => {
  const plain = renderChart({}, { notes: true });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /port-forward svc\/dw-dockwatch-http 8080:8080/);
  assert.match(plain.stdout, /get secret dw-dockwatch-secrets -o jsonpath='\{\.data\.admin-password\}'/);
  const withIngress = renderChart({ ingress: { enabled: true, host: 'dw.example.org', tls: { enabled: true } }, secrets: { existingSecret: 'mine' } }, { notes: true });
  assert.match(withIngress.stdout, /https:\/\/dw\.example\.org\//);
  assert.match(withIngress.stdout, /get secret mine /);
});

test('every values.yaml key is documented by a comment (its own, or its block\'s)', () => {
  const lines = readFileSync(`${chartDir}/values.yaml`, 'utf8').split('\n');
  const indent = (l: string): number => /^\s*/.exec(l)![0].length;
  const isKey = (l: string): boolean => /^\s*[A-Za-z][\w-]*:/.test(l);
  const documented = (i: number): boolean => {
    if (i > 0 && /^\s*#/.test(lines[i - 1]!)) return true;
    for (let j = i - 1; j >= 0; j--) {
      if (isKey(lines[j]!) && indent(lines[j]!) < indent(lines[i]!)) return documented(j);
    }
    return false;
  };
  let keys = 0;
  lines.forEach((line, i) => {
    if (!isKey(line)) return;
    keys++;
    assert.ok(documented(i), `values.yaml line ${i + 1} (${line.trim()}) is documented`);
  });
  assert.ok(keys > 50);
});
