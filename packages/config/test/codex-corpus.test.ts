// Codex's own files (tests/fixtures/codex) load as Codex means them: every key implemented or reported
// not applicable, operator keys still refused in tenant layers, typos still errors, legacy values and
// relative roots mapped, network_access giving network, requirements' rules and network ceilings applied.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'smol-toml';
import {
  CODEX_CONFIG_KEYS,
  CODEX_REQUIREMENTS_KEYS,
  codexKeyAt,
  ConfigError,
  parseRulesFile,
  readAgentLayer,
  readClusterFile,
  readRequirements,
  resolveConfig,
  schemaKnows,
  AgentConfig,
  ClusterFile,
} from '../src/index.ts';

const corpus = (name: string) => readFileSync(new URL(`../../../tests/fixtures/codex/${name}`, import.meta.url), 'utf8');

/** Every dotted key path of a TOML value (tables walked, arrays are leaves). */
function paths(value: Record<string, unknown>, prefix: string[] = []): string[][] {
  return Object.entries(value).flatMap(([k, v]) => {
    const path = [...prefix, k];
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? [path, ...paths(v as Record<string, unknown>, path)] : [path];
  });
}

function read(text: string, as: 'cluster' | 'environment' = 'cluster') {
  const ignored: string[] = [];
  const config = readAgentLayer({ source: 'config.toml', text }, as, { onIgnoredKeys: (_s, k) => ignored.push(...k) });
  return { config, ignored };
}

describe("Codex's corpus", () => {
  for (const name of ['config.sample.toml', 'config.typical.toml']) {
    test(`${name} loads as the cluster file; each key is implemented (kept) or not applicable (ignored_keys)`, () => {
      const raw = parse(corpus(name)) as Record<string, unknown>;
      const { config, ignored } = read(corpus(name));
      assert.ok(ignored.length > 0);
      for (const path of paths(raw)) {
        if (path[0] === 'profiles' || path[0] === 'profile') continue; // applied, then gone
        const dotted = path.join('.');
        const fate = codexKeyAt(CODEX_CONFIG_KEYS, path)?.entry.fate;
        const coveredByIgnored = ignored.some((i) => dotted === i || dotted.startsWith(`${i}.`));
        if (coveredByIgnored) assert.equal(fate, 'not_applicable', `${dotted} ignored but its fate is ${fate}`);
        else assert.ok(schemaKnows(ClusterFile, path), `${dotted} kept, so Paddock's schema knows it (fate ${fate})`);
      }
      assert.ok(config.model);
    });
  }

  test('the same file in a tenant layer: model_providers (operator) is still refused, naming key and owner', () => {
    assert.throws(
      () => read(corpus('config.typical.toml'), 'environment'),
      (err: ConfigError) => err.code === 'config_key_not_owned' && /model_providers: only the operator/.test(err.message),
    );
    const tenant = corpus('config.typical.toml').replace(/\[model_providers[\s\S]*?(?=\n\[profiles)/, '');
    const { ignored } = read(tenant.replace(/^model_provider = .*$/m, ''), 'environment');
    assert.ok(ignored.includes('features') && ignored.includes('shell_environment_policy'));
  });

  test("requirements.full.toml loads: Codex's values mapped, inapplicable keys reported, rules and network ceilings kept", () => {
    const ignored: string[] = [];
    const req = readRequirements({ source: 'requirements.toml', text: corpus('requirements.full.toml') }, (_s, k) => ignored.push(...k));
    for (const key of ['features', 'mcp_servers', 'allowed_web_search_modes', 'remote_sandbox_config', 'experimental_network.http_port']) {
      assert.ok(ignored.includes(key), key);
    }
    for (const key of ignored) {
      assert.equal(codexKeyAt(CODEX_REQUIREMENTS_KEYS, key.split('.'))?.entry.fate, 'not_applicable', key);
    }
    assert.deepEqual(req.allowed_domains, ['api.openai.com', '*.github.com']);
    assert.deepEqual(req.denied_domains, ['pastebin.com']);
    assert.equal(req.rules?.prefix_rules.length, 3);
    const effective = resolveConfig([], req);
    assert.ok(effective.network.denied_domains.includes('pastebin.com'));
    const rm = effective.rules.filter((r) => r.pattern[0] === 'rm');
    assert.deepEqual(rm.map((r) => r.pattern), [['rm', '-rf'], ['rm', '-fr']]);
    assert.ok(rm.every((r) => r.decision === 'forbidden' && r.source === 'requirements' && r.justification));
    assert.deepEqual(
      effective.rules.filter((r) => r.decision === 'prompt').map((r) => r.pattern.join(' ')),
      ['git push', 'curl', 'wget'],
    );
  });

  test('the cluster file takes Codex provider keys; a bearer token in config is refused with the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codex-cluster-'));
    try {
      const file = join(dir, 'paddock.toml');
      writeFileSync(file, corpus('config.typical.toml'));
      const cluster = readClusterFile(file);
      const azure = cluster.model_providers?.['azure'];
      assert.ok(azure?.query_params && azure.http_headers && azure.env_http_headers);
      writeFileSync(file, '[model_providers.x]\nbase_url = "https://x.test/v1"\nexperimental_bearer_token = "sk-123"\n');
      assert.throws(() => readClusterFile(file), /model_providers\.x\.experimental_bearer_token: refused: a secret in a config file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('as Codex means them', () => {
  test('a key in neither schema stays an unknown-key error with the did-you-mean hint', () => {
    assert.throws(() => read('modle = "x"\n'), /modle: unknown key \(did you mean "model"\?\)/);
    assert.throws(() => read('[sandbox_workspace_write]\nnetwork_acess = true\n'), /did you mean "sandbox_workspace_write\.network_access"/);
  });

  test('legacy approval_policy "on-failure" is on-request; approvals_reviewer "guardian_subagent" is auto_review', () => {
    const { config } = read('approval_policy = "on-failure"\napprovals_reviewer = "guardian_subagent"\n');
    assert.equal(config.approval_policy, 'on-request');
    assert.equal(config.approvals_reviewer, 'auto_review');
    const req = readRequirements({ source: 'r', value: { allowed_approval_policies: ['on-failure', 'on-request'], allowed_approvals_reviewers: ['guardian_subagent'] } });
    assert.deepEqual(req.allowed_approval_policies, ['on-request']);
    assert.deepEqual(req.allowed_approvals_reviewers, ['auto_review']);
  });

  test('the granular policy form: all asked is on-request, all rejected is never, a mix is refused naming the key', () => {
    assert.equal(read('approval_policy = { granular = { sandbox_approval = true, rules = true, mcp_elicitations = false } }\n').config.approval_policy, 'on-request');
    assert.equal(read('approval_policy = { granular = { sandbox_approval = false, rules = false } }\n').config.approval_policy, 'never');
    assert.throws(() => read('approval_policy = { granular = { sandbox_approval = true, rules = false } }\n'), /approval_policy\.granular: sandbox_approval and rules must be both/);
  });

  test('relative writable roots resolve against the workspace; requirement prefixes still apply to the result', () => {
    const { config } = read('[sandbox_workspace_write]\nwritable_roots = ["build", "./out/cache", "/opt/tools"]\n');
    assert.deepEqual(config.sandbox_workspace_write?.writable_roots, ['/workspace/build', '/workspace/out/cache', '/opt/tools']);
    assert.throws(
      () => resolveConfig([{ layer: 'thread', source: 't', text: '[sandbox_workspace_write]\nwritable_roots = ["../etc"]\n' }], { allowed_writable_root_prefixes: ['/workspace'] }),
      /\/etc/,
    );
  });

  test('network_access = true gives commands the network through the proxy; requirements can still refuse it', () => {
    const on = resolveConfig([{ layer: 'thread', source: 't', text: '[sandbox_workspace_write]\nnetwork_access = true\n' }]);
    assert.equal(on.network.mode, 'full');
    const ceiling = resolveConfig([{ layer: 'thread', source: 't', text: '[sandbox_workspace_write]\nnetwork_access = true\n' }], { allowed_domains: ['registry.npmjs.org'] });
    assert.equal(ceiling.network.mode, 'allowlist');
    const explicit = resolveConfig([{ layer: 'thread', source: 't', text: '[sandbox_workspace_write]\nnetwork_access = true\n[network]\nmode = "off"\n' }]);
    assert.equal(explicit.network.mode, 'off', "Paddock's own [network].mode, set explicitly, wins");
    assert.throws(
      () => resolveConfig([{ layer: 'thread', source: 't', text: '[sandbox_workspace_write]\nnetwork_access = true\n' }], { allowed_network_modes: ['off'] }),
      /network_access/,
    );
  });

  test('profile selects [profiles.<name>], read over the layer; an unknown profile is an error naming it', () => {
    const { config, ignored } = read('model = "a"\nprofile = "fast"\n[profiles.fast]\nmodel = "b"\nmodel_reasoning_effort = "low"\n[profiles.slow]\nmodel = "c"\n');
    assert.equal(config.model, 'b');
    assert.ok(ignored.includes('model_reasoning_effort'));
    assert.throws(() => read('profile = "nope"\n[profiles.fast]\nmodel = "b"\n'), /profile: names no \[profiles\.nope\] \(known: fast\)/);
  });

  test('a profile cannot carry an operator key into a tenant layer', () => {
    assert.throws(
      () => read('profile = "p"\n[profiles.p.model_providers.evil]\nbase_url = "https://evil.test/v1"\n', 'environment'),
      (err: ConfigError) => err.code === 'config_key_not_owned',
    );
  });

  test("requirements rules: Codex's shape is checked (allow refused, blank justification refused)", () => {
    const bad = (rule: unknown) => () => readRequirements({ source: 'r', value: { rules: { prefix_rules: [rule] } } });
    assert.throws(bad({ pattern: [{ token: 'ls' }], decision: 'allow' }), /decision/);
    assert.throws(bad({ pattern: [{ token: 'ls' }], decision: 'prompt', justification: '  ' }), /justification/);
    assert.throws(bad({ pattern: [{ token: 'ls', any_of: ['a'] }], decision: 'prompt' }), /pattern/);
    assert.throws(bad({ pattern: [], decision: 'prompt' }), /pattern/);
  });

  test('AgentConfig knows every implemented top-level Codex key (the table and the schema agree)', () => {
    const implemented = Object.entries(CODEX_CONFIG_KEYS).filter(([k, v]) => v.fate === 'implemented' && !k.includes('.'));
    for (const [key] of implemented) {
      if (key === 'profile' || key === 'profiles') continue; // applied before validation
      assert.ok(schemaKnows(AgentConfig, [key]), key);
    }
  });
});

describe("Codex's rules files (prefix_rule)", () => {
  test('default.rules and project.rules parse; alternatives expand, decision defaults to allow, other builtins are reported', () => {
    const def = parseRulesFile(corpus('default.rules'), 'default.rules');
    assert.deepEqual(def.rules.map((r) => `${r.decision} ${r.pattern.join(' ')}`), [
      'allow npm test',
      'allow cargo build',
      'allow git commit -m',
      'allow python3 -m pytest',
      'prompt git push',
    ]);
    const project = parseRulesFile(corpus('project.rules'), 'project.rules');
    assert.ok(project.rules.some((r) => r.pattern.join(' ') === 'yarn lint' && r.decision === 'allow'));
    assert.ok(project.rules.some((r) => r.pattern.join(' ') === 'make check' && r.decision === 'allow'));
    assert.ok(project.rules.some((r) => r.pattern.join(' ') === 'git checkout --hard' && r.decision === 'prompt'));
    assert.ok(project.rules.find((r) => r.pattern.join(' ') === 'rm -rf')?.justification?.startsWith('Recursive force-delete'));
    assert.deepEqual(project.ignored.map((c) => c.call), ['host_executable', 'network_rule', 'network_rule']);
  });

  test('a failed match / not_match example refuses the file at load, naming the line, as Codex does', () => {
    const text = 'prefix_rule(\n  pattern = ["git", "push"],\n  not_match = ["git push origin"],\n)\n';
    assert.throws(() => parseRulesFile(text, 'x.rules'), /x\.rules:3: prefix_rule: expected example "git push origin" to not match rule/);
    assert.throws(() => parseRulesFile('prefix_rule(pattern = ["ls"], match = ["cat x"])', 'x.rules'), /to match rule/);
    assert.throws(() => parseRulesFile('prefix_rule(pattern = ["ls"], decision = "maybe")', 'x.rules'), /decision must be/);
    assert.throws(() => parseRulesFile('exec("rm -rf /")', 'x.rules'), /unknown function exec/);
    assert.throws(() => parseRulesFile('prefix_rule(pattern = ["ls"]', 'x.rules'), /expected/);
  });

  test("Paddock's [[rules]] stays a synonym, with Codex's justification field", () => {
    const { config } = read('[[rules]]\npattern = ["git", "push"]\ndecision = "prompt"\njustification = "publishes work"\n');
    const effective = resolveConfig([{ layer: 'thread', source: 't', value: config as Record<string, unknown> }]);
    assert.deepEqual(effective.rules.at(-1), { pattern: ['git', 'push'], decision: 'prompt', source: 'thread', justification: 'publishes work' });
  });
});
