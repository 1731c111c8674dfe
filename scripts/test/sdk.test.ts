// The SDK's source of truth: every orchestrator route has a unique operationId, the event stream's
// shapes are components, and packages/sdk/src/openapi.gen.ts is what `npm run sdk` generates now.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { openApiDocument } from '@paddock/orchestrator';
import { generatedSdkTypes, SDK_TYPES_FILE } from '../sdk.ts';

type Doc = { paths: Record<string, Record<string, { operationId?: string }>>; components: { schemas: Record<string, unknown> } };

test('every route has a unique operationId', async () => {
  const doc = (await openApiDocument()) as unknown as Doc;
  const seen = new Map<string, string>();
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ where: `${method.toUpperCase()} ${path}`, id: op.operationId })),
  );
  assert.ok(routes.length >= 29, `only ${routes.length} routes in the document`);
  for (const { where, id } of routes) {
    assert.ok(id, `${where} has no operationId`);
    assert.equal(seen.get(id), undefined, `${where} reuses operationId ${id} of ${seen.get(id)}`);
    seen.set(id, where);
  }
});

test('the event stream types are components of the document', async () => {
  const doc = (await openApiDocument()) as unknown as Doc;
  for (const name of ['ThreadEvent', 'ThreadItem', 'CommandOutputDelta', 'Usage']) assert.ok(doc.components.schemas[name], name);
  const types = JSON.stringify(doc.components.schemas['ThreadEvent']);
  for (const t of ['thread.started', 'turn.started', 'turn.completed', 'turn.failed', 'item.started', 'item.updated'])
    assert.ok(types.includes(`"${t}"`), t);
});

test('the committed SDK types are what `npm run sdk` generates', async () => {
  assert.equal(readFileSync(SDK_TYPES_FILE, 'utf8'), await generatedSdkTypes(), 'stale: run `npm run sdk`');
});
