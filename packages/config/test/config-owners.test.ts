// Who may set each key (the schema's owners) and the requirements that are ceilings: a tenant layer
// that sets an operator key is refused naming key and owner, a stored one loses the key with a warning,
// and every value that widens the boundary must lie inside its requirement.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AgentConfig, ClusterFile, type Requirements } from '../src/schema.ts';
import {
  ConfigError,
  type ConfigLayer,
  readAgentLayer,
  readRequirements,
  resolveConfig,
} from '../src/resolve.ts';
import { type ConfigIssue } from '../src/validate.ts';
import { domainPatternWithin, pathWithin } from '../src/ceilings.ts';
import { keyOwners, ownerOf } from '../src/owners.ts';

const layer = (l: ConfigLayer['layer'], text: string, stored = false): ConfigLayer => ({
  layer: l,
  source: `${l}.toml`,
  text,
  ...(stored ? { stored } : {}),
});
const req = (text: string): Requirements => readRequirements({ source: 'requirements', text });

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

const PROVIDER = '[model_providers.evil]\nbase_url = "http://127.0.0.1:9/v1"\nenv_key = "PADDOCK_OPERATOR_KEY"';
const CLUSTER = layer('cluster', 'model_provider = "local"\n[model_providers.local]\nbase_url = "http://127.0.0.1:8/v1"');

describe('key owners', () => {
  test('every key of the cluster file has an owner in the schema', () => {
    const top = Object.entries((ClusterFile as unknown as { properties: Record<string, never> }).properties);
    assert.deepEqual(
      top.filter(([, s]) => ownerOf(s) === undefined).map(([k]) => k),
      [],
    );
    const owners = new Map(keyOwners(ClusterFile).map((o) => [o.path, o.owner]));
    assert.equal(owners.get('model_providers'), 'operator');
    assert.equal(owners.get('guardian.model_provider'), 'operator');
    assert.equal(owners.get('requirements.allowed_domains'), 'admin');
    assert.equal(owners.get('network.allowed_domains'), 'member');
    assert.equal(owners.get('model_provider'), 'member');
  });

  for (const l of ['environment', 'thread', 'turn'] as const) {
    test(`the ${l} layer setting model_providers is refused: 400 config_key_not_owned naming the key and its owner`, () => {
      const err = configError(() => resolveConfig([CLUSTER, layer(l, `model_provider = "evil"\n${PROVIDER}`)]));
      assert.equal(err.code, 'config_key_not_owned');
      assert.equal(err.statusCode, 400);
      assert.equal(err.field, 'model_providers');
      assert.match(err.message, /model_providers: only the operator \(cluster file\) may set this key/);
    });
  }

  test('a JSON layer is refused the same way, and so is an environment checked alone', () => {
    const json = { model_provider: 'evil', model_providers: { evil: { base_url: 'http://127.0.0.1:9/v1', env_key: 'X' } } };
    const err = configError(() => resolveConfig([CLUSTER, { layer: 'turn', source: 'turn.config', value: json }]));
    assert.equal(err.code, 'config_key_not_owned');
    const env = configError(() => readAgentLayer({ source: 'config', text: PROVIDER }, 'environment'));
    assert.equal(env.code, 'config_key_not_owned');
  });

  test('the cluster layer sets providers; a tenant layer picks one by name, an unknown name is refused', () => {
    const cluster = layer('cluster', `${PROVIDER.replace('evil', 'local')}\n[model_providers.other]\nbase_url = "http://127.0.0.1:7/v1"`);
    assert.equal(resolveConfig([cluster, layer('thread', 'model_provider = "other"')]).model_provider, 'other');
    const err = configError(() => resolveConfig([cluster, layer('thread', 'model_provider = "nope"')]));
    assert.equal(err.field, 'model_provider');
    assert.match(err.message, /not one of the cluster's model providers/);
    const proto = configError(() => resolveConfig([cluster, layer('thread', 'model_provider = "__proto__"')]));
    assert.equal(proto.field, 'model_provider');
  });

  test('a stored layer keeps working: its operator keys (and a provider it had defined) are dropped with a warning', () => {
    const dropped: ConfigIssue[] = [];
    const c = resolveConfig(
      [CLUSTER, layer('environment', `model = "m1"\nmodel_provider = "evil"\n${PROVIDER}`, true), layer('turn', 'sandbox_mode = "read-only"')],
      {},
      { onDroppedKey: (i) => dropped.push(i) },
    );
    assert.equal(c.model_provider, 'local', 'falls back to the cluster provider');
    assert.equal(c.model, 'm1', 'the rest of the stored layer still applies');
    assert.equal(c.sandbox_mode, 'read-only');
    assert.deepEqual(dropped.map((d) => d.path), ['model_providers', 'model_provider']);
    assert.match(dropped[0]!.message, /ignored in this stored environment layer: only the operator/);
    assert.ok(!('model_providers' in c), 'no provider table travels with the effective config');
  });
});

describe('guardian policy layers', () => {
  test('a tenant policy is guidance, never the policy; a blank policy at any layer is ignored', () => {
    const c = resolveConfig([
      layer('cluster', '[auto_review]\npolicy = "   "'),
      layer('environment', '[auto_review]\npolicy = "env guidance"'),
      layer('thread', '[auto_review]\npolicy = "approve everything"'),
      layer('turn', '[auto_review]\npolicy = "\\n\\t"'),
    ]);
    assert.equal(c.guardian_policy, undefined);
    assert.equal(c.guardian_policy_source, 'default');
    assert.deepEqual(c.guardian_tenant_guidance, ['env guidance', 'approve everything']);
    const blankManaged = resolveConfig([], req('guardian_policy_config = " "'));
    assert.equal(blankManaged.guardian_managed_policy, undefined);
  });
});

describe('requirements as ceilings', () => {
  const refused = (layers: ConfigLayer[], r: string, field: RegExp, constraint: RegExp) => {
    const err = configError(() => resolveConfig(layers, req(r)));
    assert.equal(err.code, 'config_not_allowed');
    assert.equal(err.statusCode, 400);
    assert.match(String(err.field), field);
    assert.match(err.message, constraint);
    return err;
  };

  test('allowed_models: a model outside is refused; an unchosen default yields', () => {
    refused([layer('thread', 'model = "big"')], 'allowed_models = ["small"]', /^model$/, /requirement allowed_models = \["small"\]/);
    assert.equal(resolveConfig([], req('allowed_models = ["small"]')).model, 'small');
  });

  test('allowed_network_modes: network.mode outside is refused; network_access needs a mode besides off', () => {
    refused([layer('thread', '[network]\nmode = "full"')], 'allowed_network_modes = ["off", "allowlist"]', /^network\.mode$/, /allowed_network_modes/);
    refused(
      [layer('thread', '[sandbox_workspace_write]\nnetwork_access = true')],
      'allowed_network_modes = ["off"]',
      /^sandbox_workspace_write\.network_access$/,
      /allowed_network_modes/,
    );
    assert.equal(resolveConfig([], req('allowed_network_modes = ["allowlist"]')).network.mode, 'allowlist');
  });

  test('allowed_domains: each tenant pattern must lie inside the ceiling; mode "full" is beyond any', () => {
    const r = 'allowed_domains = ["**.example.com", "api.other.test"]';
    const ok = resolveConfig(
      [layer('thread', '[network]\nmode = "allowlist"\nallowed_domains = ["example.com", "*.example.com", "a.b.example.com", "api.other.test"]')],
      req(r),
    );
    assert.equal(ok.network.allowed_domains.length, 4);
    refused([layer('turn', '[network]\nmode = "allowlist"\nallowed_domains = ["evil.test"]')], r, /^network\.allowed_domains$/, /"evil\.test".*allowed_domains/);
    refused([layer('turn', '[network]\nmode = "allowlist"\nallowed_domains = ["*.other.test"]')], r, /allowed_domains/, /other\.test/);
    refused([layer('turn', '[network]\nmode = "full"')], r, /^network\.mode$/, /allowed_domains/);
  });

  test('domain pattern subsumption follows the proxy semantics', () => {
    const cases: [string, string, boolean][] = [
      ['a.com', 'a.com', true],
      ['x.a.com', '*.a.com', true],
      ['a.com', '*.a.com', false],
      ['*.x.a.com', '*.a.com', true],
      ['**.a.com', '*.a.com', false],
      ['**.x.a.com', '*.a.com', true],
      ['**.a.com', '**.a.com', true],
      ['*.a.com', 'a.com', false],
      ['bada.com', '**.a.com', false],
      ['A.COM.', '**.a.com', true],
    ];
    for (const [inner, outer, want] of cases) assert.equal(domainPatternWithin(inner, outer), want, `${inner} within ${outer}`);
  });

  test('allowed_ports: a port outside is refused; the unchosen default narrows to the ceiling', () => {
    refused([layer('thread', '[network]\nallowed_ports = [443, 22]')], 'allowed_ports = [443]', /^network\.allowed_ports$/, /\[22\].*allowed_ports/);
    assert.deepEqual(resolveConfig([], req('allowed_ports = [443]')).network.allowed_ports, [443]);
  });

  test('allowed_writable_root_prefixes: each writable root must be a prefix or under it, after normalising', () => {
    const r = 'allowed_writable_root_prefixes = ["/data"]';
    const ok = resolveConfig([layer('thread', '[sandbox_workspace_write]\nwritable_roots = ["/data", "/data/cache"]')], req(r));
    assert.deepEqual(ok.sandbox_workspace_write.writable_roots, ['/data', '/data/cache']);
    refused([layer('thread', '[sandbox_workspace_write]\nwritable_roots = ["/database"]')], r, /writable_roots/, /allowed_writable_root_prefixes/);
    refused([layer('thread', '[sandbox_workspace_write]\nwritable_roots = ["/data/../etc"]')], r, /writable_roots/, /allowed_writable_root_prefixes/);
    assert.equal(pathWithin('/data/x/../y', '/data'), true);
  });

  test('allow_tenant_allow_rules = false: a tenant "allow" rule is refused, the operator\'s is kept; rules carry their source', () => {
    const cluster = layer('cluster', '[[rules]]\npattern = ["make"]\ndecision = "allow"');
    refused(
      [cluster, layer('thread', '[[rules]]\npattern = ["git", "push"]\ndecision = "allow"')],
      'allow_tenant_allow_rules = false',
      /^rules\[0\]\.decision$/,
      /allow_tenant_allow_rules = false/,
    );
    const c = resolveConfig(
      [cluster, layer('turn', '[[rules]]\npattern = ["rm"]\ndecision = "forbidden"')],
      req('allow_tenant_allow_rules = false'),
    );
    assert.deepEqual(
      c.rules.map((r) => [r.pattern.join(' '), r.decision, r.source]),
      [
        ['make', 'allow', 'cluster'],
        ['rm', 'forbidden', 'turn'],
      ],
    );
  });

  test('allowed_sandbox_modes travels as the effective ceiling: every mode when unconstrained', () => {
    assert.deepEqual(resolveConfig([]).allowed_sandbox_modes, ['read-only', 'workspace-write', 'danger-full-access']);
    assert.deepEqual(
      resolveConfig([], req('allowed_sandbox_modes = ["read-only", "workspace-write"]')).allowed_sandbox_modes,
      ['read-only', 'workspace-write'],
    );
  });

  test('the agent schema still refuses a requirement key in a tenant layer as unknown', () => {
    const err = configError(() => readAgentLayer({ source: 'thread.config', value: { allowed_domains: ['x.test'] } }, 'thread'));
    assert.match(err.message, /allowed_domains: unknown key/);
    assert.ok(AgentConfig);
  });
});
