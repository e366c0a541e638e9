// k8s/: every object passes kubernetes-models' schema validation and has no unknown field, and the
// properties the deployment promises (probes, hardening, read-only mounts, placeholders only) hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { checkObject, unknownFields, type K8sObject } from '../helpers/deploy-k8s.js';

const dir = new URL('../../k8s/', import.meta.url);
const objects: K8sObject[] = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()
  .flatMap((f) => parseAllDocuments(readFileSync(new URL(f, dir), 'utf8')).map((d) => d.toJS() as K8sObject))
  .filter((o) => o);

type Any = any;
const find = (kind: string, name: string): Any => {
  const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
  assert.ok(o, `${kind}/${name} exists`);
  return o;
};

test('every k8s/ object is schema-valid and has no unknown field', () => {
  assert.ok(objects.length >= 15);
  for (const o of objects) checkObject(o);
});

test('the unknown-field check catches typos the schema validation lets through', () => {
  const d = structuredClone(find('Deployment', 'dockwatch-server'));
  d.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  d.spec.template.spec.containers[0].livenessProbe.httpGet.paht = '/x';
  assert.deepEqual(unknownFields(d).sort(), [
    'Deployment/dockwatch-server.spec.template.spec.containers[0].livenessProbe.httpGet.paht',
    'Deployment/dockwatch-server.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem',
  ].sort());
  const wrongType = structuredClone(find('Deployment', 'dockwatch-server'));
  wrongType.spec.replicas = 'two';
  assert.throws(() => checkObject(wrongType), /replicas/);
});

test('all objects are namespaced in dockwatch, with one Namespace', () => {
  for (const o of objects) {
    if (o.kind === 'Namespace') assert.equal(o.metadata?.name, 'dockwatch');
    else assert.equal(o.metadata?.namespace, 'dockwatch', `${o.kind}/${o.metadata?.name}`);
  }
});

test('server: 3 replicas, /health probes, limits, hardened, writable DATA_DIR and /tmp', () => {
  const d = find('Deployment', 'dockwatch-server');
  assert.equal(d.spec.replicas, 3);
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, '/health');
  assert.equal(c.livenessProbe.httpGet.path, '/health');
  assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  const mounts = Object.fromEntries(c.volumeMounts.map((m: Any) => [m.mountPath, m.name]));
  const cfg = find('ConfigMap', 'dockwatch-config');
  assert.ok(mounts[cfg.data.DATA_DIR], 'DATA_DIR is a mounted volume');
  assert.ok(mounts['/tmp']);
  for (const v of pod.volumes) assert.ok(v.emptyDir, `${v.name} is an emptyDir`);
  // Every secret the server reads comes from the Secret, and the Secret holds each key.
  const secret = find('Secret', 'dockwatch-secrets');
  for (const e of c.env.filter((x: Any) => x.valueFrom?.secretKeyRef)) {
    assert.ok(e.valueFrom.secretKeyRef.key in secret.stringData, e.name);
  }
  assert.ok(c.env.some((e: Any) => e.name === 'JWT_SECRET'));
});

test('services, ingress, HPA and PDB point at the server', () => {
  const labels = find('Deployment', 'dockwatch-server').spec.template.metadata.labels;
  const http = find('Service', 'dockwatch-http');
  const grpc = find('Service', 'dockwatch-grpc');
  assert.equal(http.spec.ports.find((p: Any) => p.name === 'http').port, 8080);
  assert.equal(grpc.spec.ports[0].port, 50051);
  for (const s of [http, grpc]) {
    for (const [k, v] of Object.entries(s.spec.selector)) assert.equal(labels[k], v);
  }
  const ing = find('Ingress', 'dockwatch');
  assert.equal(ing.spec.rules[0].http.paths[0].backend.service.name, 'dockwatch-http');
  assert.equal(find('HorizontalPodAutoscaler', 'dockwatch-server').spec.scaleTargetRef.name, 'dockwatch-server');
  assert.ok(find('HorizontalPodAutoscaler', 'dockwatch-server').spec.minReplicas >= 2);
  const pdb = find('PodDisruptionBudget', 'dockwatch-server');
  for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v);
  assert.equal(pdb.spec.maxUnavailable, 1);
  // Agents reach every pod through the headless Service, and spread and fail over themselves.
  const headless = find('Service', 'dockwatch-grpc-headless');
  assert.equal(headless.spec.clusterIP, 'None');
  for (const [k, v] of Object.entries(headless.spec.selector)) assert.equal(labels[k], v);
  const agentEnv = find('DaemonSet', 'dockwatch-agent').spec.template.spec.containers[0].env;
  assert.equal(agentEnv.find((e: Any) => e.name === 'SERVER_ADDR').value, 'dockwatch-grpc-headless.dockwatch.svc:50051');
});

test('agent DaemonSet mounts the docker socket, /proc and /sys read-only and points HOST_* at them', () => {
  const ds = find('DaemonSet', 'dockwatch-agent');
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];
  const hostPaths = Object.fromEntries(pod.volumes.filter((v: Any) => v.hostPath).map((v: Any) => [v.name, v.hostPath.path]));
  const mountOf = (hostPath: string): Any => {
    const vol = Object.entries(hostPaths).find(([, p]) => p === hostPath)?.[0];
    return c.volumeMounts.find((m: Any) => m.name === vol);
  };
  const env = Object.fromEntries(c.env.filter((e: Any) => 'value' in e).map((e: Any) => [e.name, e.value]));
  for (const p of ['/var/run/docker.sock', '/proc', '/sys']) {
    const m = mountOf(p);
    assert.ok(m, `${p} is mounted`);
    assert.equal(m.readOnly, true, `${p} is read-only`);
  }
  assert.equal(env.HOST_PROC, mountOf('/proc').mountPath);
  assert.equal(env.HOST_SYS, mountOf('/sys').mountPath);
  assert.equal(env.DOCKER_HOST, `unix://${mountOf('/var/run/docker.sock').mountPath}`);
  assert.match(env.SERVER_ADDR, /^dockwatch-grpc-headless\.dockwatch\.svc:50051$/);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(pod.securityContext.runAsNonRoot, true);
});

test('InfluxDB is a pinned 2.x StatefulSet with a PVC; Redis is 7', () => {
  const sts = find('StatefulSet', 'dockwatch-influxdb');
  assert.match(sts.spec.template.spec.containers[0].image, /^influxdb:2\.\d+/);
  assert.ok(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage);
  assert.match(find('Deployment', 'dockwatch-redis').spec.template.spec.containers[0].image, /^redis:7(\.|$)/);
});

test('NetworkPolicies let only server pods reach InfluxDB and Redis', () => {
  const serverLabels = find('Deployment', 'dockwatch-server').spec.template.metadata.labels;
  const agentLabels = find('DaemonSet', 'dockwatch-agent').spec.template.metadata.labels;
  const matches = (sel: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(sel).every(([k, v]) => labels[k] === v);
  for (const [target, port] of [['dockwatch-influxdb', 8086], ['dockwatch-redis', 6379]] as const) {
    const np = objects.find((o: Any) => o.kind === 'NetworkPolicy' &&
      matches(o.spec.podSelector.matchLabels, (target === 'dockwatch-influxdb'
        ? find('StatefulSet', target) : find('Deployment', target)).spec.template.metadata.labels)) as Any;
    assert.ok(np, `a policy selects ${target}`);
    assert.deepEqual(np.spec.policyTypes, ['Ingress']);
    for (const rule of np.spec.ingress) {
      for (const from of rule.from) {
        assert.ok(from.podSelector && !from.namespaceSelector && !from.ipBlock);
        assert.ok(matches(from.podSelector.matchLabels, serverLabels));
        assert.ok(!matches(from.podSelector.matchLabels, agentLabels));
      }
      assert.deepEqual(rule.ports.map((p: Any) => p.port), [port]);
    }
  }
});

test('the Secret template holds placeholders only', () => {
  const s = find('Secret', 'dockwatch-secrets');
  assert.ok(Object.keys(s.stringData).length >= 4);
  for (const [k, v] of Object.entries(s.stringData)) assert.equal(v, 'CHANGE_ME', k);
  assert.equal(s.data, undefined);
});
