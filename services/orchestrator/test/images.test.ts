// The environment image allowlist through the API, against a real Redis and a real Docker engine
// (only to show which refused images exist): off the list is a 400 worded the same either way.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LOCAL_DEBIAN_BASE } from '@paddock/platform';
import { ensureDocker, type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { orchestratorSettings } from '../src/settings.ts';
import { api, newWorkspace, OPERATOR_KEY, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
});
after(() => redis?.stop());

const createEnv = (token: string, image: string) => call('POST', '/v1/environments', token, { name: 'e', image });
/** The refusal with the image's own name taken out: what could tell one image from another. */
const shapeOf = (r: { status: number; json: { error: { code: string; field?: string; message: string } } }, image: string) => ({
  status: r.status,
  code: r.json.error.code,
  field: r.json.error.field,
  message: r.json.error.message.replace(JSON.stringify(image), '<image>'),
});

describe('environment images', () => {
  test('only the built sandbox images by default; an existing and a missing image are refused alike', async (t) => {
    orch = await start(redis.url, { dispatch: false });
    t.after(() => orch.close());
    const ws = await newWorkspace(call, 'img-default');
    for (const image of ['paddock/sandbox-base:latest', 'paddock/sandbox-base:28a4afee2dae8cb5', 'paddock/sandbox-base']) {
      const r = await createEnv(ws.owner, image);
      assert.equal(r.status, 201, `${image}: ${r.body}`);
    }
    const docker = await ensureDocker();
    await docker.getImage(LOCAL_DEBIAN_BASE).inspect(); // exists on this engine
    await assert.rejects(docker.getImage('paddock/no-such-image:1').inspect()); // does not
    const existing = await createEnv(ws.owner, LOCAL_DEBIAN_BASE);
    const missing = await createEnv(ws.owner, 'paddock/no-such-image:1');
    assert.deepEqual(shapeOf(existing, LOCAL_DEBIAN_BASE), shapeOf(missing, 'paddock/no-such-image:1'));
    assert.deepEqual(shapeOf(existing, LOCAL_DEBIAN_BASE), {
      status: 400,
      code: 'image_not_allowed',
      field: 'image',
      message: "image <image> is not in the cluster's allowed images ([sandbox_worker] allowed_images, set by the operator)",
    });
    // The service images, other repositories passing as sandbox ones, and a digest are refused too.
    for (const image of [
      'paddock/orchestrator:latest',
      'paddock/sandbox-worker:latest',
      'paddock/sandbox-base-evil:latest',
      'evil/paddock/sandbox-base:latest',
      'paddock/sandbox-base@sha256:' + 'a'.repeat(64),
    ]) {
      const r = await createEnv(ws.owner, image);
      assert.equal(r.status, 400, image);
      assert.equal(r.json.error.code, 'image_not_allowed', image);
    }
    const listed = await call('GET', '/v1/environments', ws.owner);
    assert.equal(listed.json.items.length, 3, 'nothing refused was stored');
  });

  test("the operator's allowed_images replaces the default; the worker's own image stays allowed", async (t) => {
    const file = {
      sandbox_worker: { image: 'registry.test/ops/sandbox:7', allowed_images: ['registry.test/team/agent:*', 'registry.test/tools/node:22'] },
    };
    orch = await start(redis.url, {
      dispatch: false,
      settings: orchestratorSettings(
        { file, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'X' } },
        { X: OPERATOR_KEY },
      ),
    });
    t.after(() => orch.close());
    const ws = await newWorkspace(call, 'img-listed');
    assert.equal((await createEnv(ws.owner, 'registry.test/tools/node:22')).status, 201);
    assert.equal((await createEnv(ws.owner, 'registry.test/ops/sandbox:7')).status, 201);
    assert.equal((await createEnv(ws.owner, 'registry.test/team/agent:2026-12')).status, 201);
    for (const image of ['registry.test/tools/node:20', 'paddock/sandbox-base:latest', 'registry.test/team/agent-x:1', 'registry.test/team/agent@sha256:' + 'b'.repeat(64)]) {
      const r = await createEnv(ws.owner, image);
      assert.equal(r.status, 400, image);
      assert.equal(r.json.error.field, 'image');
    }
  });
});
