import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ConfigError,
  type ConfigLayer,
  readClusterFile,
  readRequirements,
  resolveConfig,
} from '../src/resolve.ts';
import { loadClusterSettings } from '../src/cluster.ts';

const layer = (l: ConfigLayer['layer'], text: string): ConfigLayer => ({
  layer: l,
  source: `${l}.toml`,
  text,
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config layering', () => {
  test('built-in defaults apply when no layer sets a key', () => {
    const c = resolveConfig([]);
    assert.equal(c.sandbox_mode, 'workspace-write');
    assert.equal(c.approval_policy, 'on-request');
    assert.equal(c.approvals_reviewer, 'user');
    assert.equal(c.network.mode, 'off');
    assert.equal(c.guardian_policy, undefined);
    assert.equal(c.guardian_policy_source, 'default');
  });

  test('precedence: defaults < cluster < environment < thread < turn', () => {
    const layers = [
      layer(
        'cluster',
        'model = "cluster-model"\nsandbox_mode = "read-only"\napproval_policy = "never"\n[network]\nmode = "full"',
      ),
      layer('environment', 'model = "env-model"\nsandbox_mode = "workspace-write"'),
      layer('thread', 'model = "thread-model"'),
      layer('turn', 'approval_policy = "untrusted"'),
    ];
    const c = resolveConfig(layers);
    assert.equal(c.model, 'thread-model');
    assert.equal(c.sandbox_mode, 'workspace-write');
    assert.equal(c.approval_policy, 'untrusted');
    assert.equal(c.network.mode, 'full');
    // Each layer alone wins over the ones below it.
    assert.equal(resolveConfig(layers.slice(0, 1)).model, 'cluster-model');
    assert.equal(resolveConfig(layers.slice(0, 2)).model, 'env-model');
  });

  test('nested tables merge key by key', () => {
    const c = resolveConfig([
      layer('cluster', '[sandbox_workspace_write]\nwritable_roots = ["/data"]'),
      layer('thread', '[sandbox_workspace_write]\nnetwork_access = true'),
    ]);
    assert.deepEqual(c.sandbox_workspace_write, { writable_roots: ['/data'], network_access: true });
  });

  test('rules and denied domains accumulate: a higher layer cannot drop a lower layer restriction', () => {
    const c = resolveConfig([
      layer(
        'cluster',
        '[network]\ndenied_domains = ["evil.test"]\n[[rules]]\npattern = ["rm", "-rf"]\ndecision = "forbidden"',
      ),
      layer(
        'thread',
        '[network]\ndenied_domains = []\n[[rules]]\npattern = ["npm", "test"]\ndecision = "allow"',
      ),
    ]);
    assert.deepEqual(c.network.denied_domains, ['evil.test']);
    assert.deepEqual(
      c.rules.map((r) => r.decision),
      ['forbidden', 'allow'],
    );
  });

  test('objects are layers too, validated the same way', () => {
    const c = resolveConfig([
      { layer: 'thread', source: 'thread config', value: { sandbox_mode: 'read-only' } },
    ]);
    assert.equal(c.sandbox_mode, 'read-only');
    const err = configError(() =>
      resolveConfig([{ layer: 'turn', source: 'turn config', value: { sandbox_mode: 7 } }]),
    );
    assert.match(
      err.message,
      /turn config: sandbox_mode: must be one of "read-only", "workspace-write", "danger-full-access"/,
    );
  });

  test('model providers: a custom one is usable, an undefined one is refused', () => {
    const c = resolveConfig([
      layer(
        'cluster',
        'model_provider = "local"\n[model_providers.local]\nbase_url = "http://127.0.0.1:9/v1"\nenv_key = "LOCAL_KEY"\nwire_api = "chat"',
      ),
    ]);
    assert.equal(c.model_provider, 'local');
    const err = configError(() => resolveConfig([layer('thread', 'model_provider = "nope"')]));
    assert.equal(err.field, 'model_provider');
    assert.match(err.message, /not one of the cluster's model providers/);
  });

  test('API keys are named by environment variable, never written in the file', () => {
    const err = configError(() =>
      resolveConfig([
        layer('cluster', '[model_providers.x]\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "sk-123"'),
      ]),
    );
    assert.match(err.message, /model_providers\.x\.api_key: unknown key/);
  });
});

describe('config errors', () => {
  test('a syntax error names the file and line', () => {
    const err = configError(() => resolveConfig([layer('cluster', 'model = "a"\nsandbox_mode = \n')]));
    assert.equal(err.issues[0]?.source, 'cluster.toml');
    assert.equal(err.issues[0]?.line, 2);
    assert.match(err.message, /^cluster\.toml:2:\d+: TOML syntax error/);
  });

  test('an unknown key is refused with the closest known key', () => {
    const err = configError(() => resolveConfig([layer('thread', 'model = "m"\nsandbox_mod = "read-only"')]));
    assert.equal(err.issues[0]?.path, 'sandbox_mod');
    assert.match(err.message, /thread\.toml:2: sandbox_mod: unknown key \(did you mean "sandbox_mode"\?\)/);
    const nested = configError(() =>
      resolveConfig([layer('thread', '[sandbox_workspace_write]\nwritable_root = ["/x"]')]),
    );
    assert.match(
      nested.message,
      /sandbox_workspace_write\.writable_root: unknown key \(did you mean "sandbox_workspace_write\.writable_roots"\?\)/,
    );
    const far = configError(() => resolveConfig([layer('thread', 'completely_different = 1')]));
    assert.doesNotMatch(far.message, /did you mean/);
  });

  test('the key path of an array element is named', () => {
    const err = configError(() =>
      resolveConfig([
        // A relative root is valid (it resolves against the workspace, as in Codex): a number is not.
        layer('thread', '[sandbox_workspace_write]\nwritable_roots = ["/a", "/b", 3]'),
      ]),
    );
    assert.equal(err.issues[0]?.path, 'sandbox_workspace_write.writable_roots[2]');
    assert.match(
      err.message,
      /thread\.toml:2: sandbox_workspace_write\.writable_roots\[2\]: must be a string/,
    );
  });

  test('every problem is listed, not only the first', () => {
    const err = configError(() =>
      resolveConfig([layer('thread', 'sandbox_mode = "x"\napproval_policy = "y"\n[network]\nmode = 3')]),
    );
    assert.deepEqual(err.issues.map((i) => i.path).sort(), [
      'approval_policy',
      'network.mode',
      'sandbox_mode',
    ]);
  });

  test('a wrong type is named', () => {
    const err = configError(() =>
      resolveConfig([layer('thread', '[sandbox_workspace_write]\nnetwork_access = "yes"')]),
    );
    assert.match(err.message, /sandbox_workspace_write\.network_access: must be a boolean/);
  });

  test('domain patterns are checked', () => {
    resolveConfig([
      layer('thread', '[network]\nallowed_domains = ["example.com", "*.example.com", "**.example.org"]'),
    ]);
    const err = configError(() =>
      resolveConfig([layer('thread', '[network]\nallowed_domains = ["exa mple.com"]')]),
    );
    assert.equal(err.issues[0]?.path, 'network.allowed_domains[0]');
  });

  test('config errors are HTTP 400 with a stable code', () => {
    const err = configError(() => resolveConfig([layer('thread', 'sandbox_mode = "x"')]));
    assert.equal(err.statusCode, 400);
    assert.equal(err.toBody().error.code, 'config_invalid');
    assert.equal(err.toBody().error.field, 'sandbox_mode');
  });
});

describe('requirements', () => {
  const req = (text: string) => readRequirements({ source: 'requirements.toml', text });

  test('sandbox_mode outside allowed_sandbox_modes is refused, naming the constraint and the layer', () => {
    const err = configError(() =>
      resolveConfig(
        [layer('thread', 'sandbox_mode = "danger-full-access"')],
        req('allowed_sandbox_modes = ["read-only", "workspace-write"]'),
      ),
    );
    assert.equal(err.code, 'config_not_allowed');
    assert.equal(err.field, 'sandbox_mode');
    assert.match(
      err.message,
      /"danger-full-access" \(set by the thread layer\) is not allowed by requirement allowed_sandbox_modes/,
    );
  });

  test('approval_policy outside allowed_approval_policies is refused', () => {
    const err = configError(() =>
      resolveConfig(
        [layer('turn', 'approval_policy = "never"')],
        req('allowed_approval_policies = ["untrusted", "on-request"]'),
      ),
    );
    assert.equal(err.field, 'approval_policy');
    assert.match(err.message, /allowed_approval_policies/);
  });

  test('approvals_reviewer outside allowed_approvals_reviewers is refused', () => {
    const err = configError(() =>
      resolveConfig(
        [layer('environment', 'approvals_reviewer = "user"')],
        req('allowed_approvals_reviewers = ["auto_review"]'),
      ),
    );
    assert.equal(err.field, 'approvals_reviewer');
    assert.match(err.message, /allowed_approvals_reviewers = \["auto_review"\]/);
  });

  test('a value set by the cluster layer is refused too: nothing is silently changed', () => {
    const err = configError(() =>
      resolveConfig(
        [layer('cluster', 'sandbox_mode = "danger-full-access"')],
        req('allowed_sandbox_modes = ["read-only"]'),
      ),
    );
    assert.match(err.message, /set by the cluster layer/);
  });

  test('an allowed value passes, and an unchosen built-in default gives way to the first allowed value', () => {
    const r = req('allowed_sandbox_modes = ["read-only"]\nallowed_approvals_reviewers = ["auto_review"]');
    const c = resolveConfig([], r);
    assert.equal(c.sandbox_mode, 'read-only');
    assert.equal(c.approvals_reviewer, 'auto_review');
    assert.equal(resolveConfig([layer('thread', 'sandbox_mode = "read-only"')], r).sandbox_mode, 'read-only');
  });

  test('guardian policy: the cluster file replaces the default; managed policy and a thread policy are added, never replacing it', () => {
    const layers = [
      layer('cluster', '[auto_review]\npolicy = "cluster policy"'),
      layer('thread', '[auto_review]\npolicy = "thread policy"'),
    ];
    const own = resolveConfig(layers);
    assert.equal(own.guardian_policy, 'cluster policy');
    assert.equal(own.guardian_policy_source, 'cluster');
    assert.deepEqual(own.guardian_tenant_guidance, ['thread policy']);
    const managed = resolveConfig(layers, req('guardian_policy_config = "tenant policy"'));
    assert.equal(managed.guardian_policy, 'cluster policy');
    assert.equal(managed.guardian_managed_policy, 'tenant policy');
    assert.deepEqual(managed.guardian_tenant_guidance, ['thread policy']);
  });

  test('requirements are validated with the same errors', () => {
    const err = configError(() => req('allowed_sandbox_mode = ["read-only"]'));
    assert.match(err.message, /did you mean "allowed_sandbox_modes"/);
    const empty = configError(() => req('allowed_sandbox_modes = []'));
    assert.match(empty.message, /allowed_sandbox_modes: must have at least 1/);
  });
});

describe('cluster file and environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-config-'));

  test('service sections are read, environment variables override them', () => {
    const path = join(dir, 'paddock.toml');
    writeFileSync(
      path,
      '[redis]\nurl = "redis://127.0.0.1:7000"\n[orchestrator]\nport = 9000\n[guardian]\nport = 9001\n',
    );
    const s = loadClusterSettings({ PADDOCK_CONFIG: path, PADDOCK_GUARDIAN_PORT: '9100' }, dir);
    assert.equal(s.configPath, path);
    assert.equal(s.redisUrl, 'redis://127.0.0.1:7000');
    assert.equal(s.orchestrator.port, 9000);
    assert.equal(s.guardian.port, 9100);
    assert.equal(s.guardian.url, 'http://127.0.0.1:9100');
    assert.equal(
      loadClusterSettings({ PADDOCK_CONFIG: path, PADDOCK_REDIS_URL: 'redis://127.0.0.1:1' }, dir).redisUrl,
      'redis://127.0.0.1:1',
    );
  });

  test('a bad cluster file names the file and line; a bad port variable names the variable', () => {
    const path = join(dir, 'bad.toml');
    writeFileSync(path, 'model = "x"\n\n[orchestrator]\nprot = 9000\n');
    const err = configError(() => readClusterFile(path));
    assert.match(
      err.message,
      new RegExp(`${path}:4: orchestrator\\.prot: unknown key \\(did you mean "orchestrator\\.port"\\?\\)`),
    );
    const env = configError(() => loadClusterSettings({ PADDOCK_ORCHESTRATOR_PORT: 'eighty' }, dir));
    assert.equal(env.field, 'PADDOCK_ORCHESTRATOR_PORT');
  });

  test('thread layers cannot set service sections', () => {
    const err = configError(() => resolveConfig([layer('thread', '[redis]\nurl = "redis://127.0.0.1:1"')]));
    assert.match(err.message, /redis: unknown key/);
  });
});
