// The keyspace's Lua helpers build, inside a real Redis, exactly the keys its TypeScript functions
// build: every key function of the keyspace, evaluated both ways.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RedisServer, startRedis } from '@paddock/testing';
import { channels, egressKeys, keys, luaKeyConstant, luaKeyFunction, sandboxKeys } from '../src/keyspace.ts';

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis?.stop());

type KeyFn = (...parts: string[]) => string;
/** Every function of a key group, nested groups too, named by its path. */
function keyFunctions(group: object, prefix: string): [string, KeyFn][] {
  return Object.entries(group).flatMap(([name, value]): [string, KeyFn][] => {
    if (typeof value === 'function') return [[`${prefix}.${name}`, value as KeyFn]];
    if (value && typeof value === 'object') return keyFunctions(value, `${prefix}.${name}`);
    return [];
  });
}

describe('keyspace: Lua key helpers', () => {
  const all = [...keyFunctions(keys, 'keys'), ...keyFunctions(sandboxKeys, 'sandboxKeys'), ...keyFunctions(egressKeys, 'egressKeys')];

  test('every key function has a Lua twin that builds the same key in Redis', async () => {
    assert.ok(all.length > 40, `found only ${all.length} key functions`);
    const client = redis.client();
    for (const [name, fn] of all) {
      const args = Array.from({ length: fn.length }, (_, i) => `arg-${i}.x:${name}`);
      const lua = `${luaKeyFunction('k', fn)}\nreturn k(${args.map((_, i) => `ARGV[${i + 1}]`).join(', ')})`;
      assert.equal(await client.eval(lua, 0, ...args), fn(...args), name);
    }
  });

  test('constants come out as Lua strings; text Lua would need to escape is refused', async () => {
    assert.equal(await redis.client().eval(`${luaKeyConstant('K', channels.wake)}\nreturn K`, 0), channels.wake);
    assert.throws(() => luaKeyFunction('k', (id: string) => `paddock:it's:${id}`), /needs Lua escaping/);
  });
});
