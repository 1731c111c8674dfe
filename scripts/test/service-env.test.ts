// `npm start`'s per-service environments (scripts/service-env.ts) for a cluster file that renames
// every secret variable: each secret reaches only the service that uses it; nothing else leaks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterSettings } from '@paddock/config';
import { SERVICES, serviceEnv } from '../service-env.ts';

const settings = {
  configPath: undefined,
  file: {
    model_provider: 'corp',
    model_providers: { corp: { name: 'Corp', base_url: 'http://127.0.0.1:9/v1', env_key: 'CORP_MODEL_KEY' } },
    guardian: { api_key_env: 'REVIEW_MODEL_KEY', service_token_env: 'MY_GUARDIAN_CREDENTIAL' },
  },
  orchestrator: { host: '127.0.0.1', port: 8080, operatorKeyEnv: 'MY_OPERATOR_KEY' },
} as unknown as ClusterSettings;

const parent: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/root',
  NODE_OPTIONS: '--max-old-space-size=512',
  OTEL_SERVICE_NAME: 'x',
  PADDOCK_CONFIG: '/etc/paddock.toml',
  PADDOCK_SANDBOX_SCOPE: 'a=b',
  PADDOCK_GUARDIAN_MODEL: 'reviewer',
  CORP_MODEL_KEY: 'corp-key',
  REVIEW_MODEL_KEY: 'review-key',
  MY_GUARDIAN_CREDENTIAL: 'svc-credential',
  MY_OPERATOR_KEY: 'op-key',
  AWS_SECRET_ACCESS_KEY: 'cloud',
  GITHUB_TOKEN: 'gh',
  PADDOCK_UNKNOWN_SECRET: 'unknown',
  SSH_AUTH_SOCK: '/tmp/agent',
};

test('each service gets the basics, its own settings and only the secrets it uses', () => {
  const envs = Object.fromEntries(SERVICES.map((s) => [s, serviceEnv(s, settings, parent, {})]));
  for (const s of SERVICES) {
    const env = envs[s]!;
    assert.equal(env['PATH'], '/usr/bin', s);
    assert.equal(env['NODE_OPTIONS'], parent['NODE_OPTIONS'], s);
    assert.equal(env['OTEL_SERVICE_NAME'], 'x', s);
    assert.equal(env['PADDOCK_CONFIG'], '/etc/paddock.toml', s);
    for (const leaked of ['AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'PADDOCK_UNKNOWN_SECRET', 'SSH_AUTH_SOCK']) {
      assert.equal(env[leaked], undefined, `${s} got ${leaked}`);
    }
  }
  const holders = (name: string) => SERVICES.filter((s) => envs[s]![name] !== undefined);
  assert.deepEqual(holders('MY_OPERATOR_KEY'), ['orchestrator']);
  assert.deepEqual(holders('MY_GUARDIAN_CREDENTIAL'), ['guardian', 'egress-proxy', 'sandbox-worker']);
  assert.deepEqual(holders('REVIEW_MODEL_KEY'), ['guardian']);
  // The agent loop runs in the worker; the guardian's provider is the cluster's too.
  assert.deepEqual(holders('CORP_MODEL_KEY'), ['guardian', 'sandbox-worker']);
  assert.deepEqual(holders('PADDOCK_SANDBOX_SCOPE'), ['sandbox-worker']);
  assert.deepEqual(holders('PADDOCK_GUARDIAN_MODEL'), ['guardian']);
});

test('what start.ts adds (a Redis URL, a generated credential) wins over the shell', () => {
  const env = serviceEnv('egress-proxy', settings, { ...parent, PADDOCK_REDIS_URL: 'redis://shell' }, {
    PADDOCK_REDIS_URL: 'redis://egress-proxy:pw@127.0.0.1:6390',
  });
  assert.equal(env['PADDOCK_REDIS_URL'], 'redis://egress-proxy:pw@127.0.0.1:6390');
  assert.equal(serviceEnv('guardian', settings, { ...parent, PADDOCK_REDIS_URL: 'redis://shell' }, {})['PADDOCK_REDIS_URL'], undefined);
});
