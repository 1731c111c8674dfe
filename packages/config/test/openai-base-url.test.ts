// The built-in openai provider honours OPENAI_BASE_URL (the operator's variable); a cluster file that
// defines [model_providers.openai] wins; a value that is not an http(s) URL stops the start, named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, withOpenAiBaseUrl } from '../src/index.ts';

test('OPENAI_BASE_URL points the built-in openai provider elsewhere, key variable unchanged', () => {
  const file = withOpenAiBaseUrl({ model: 'm' }, { OPENAI_BASE_URL: 'http://127.0.0.1:9999/v1' });
  assert.equal(file.model_providers?.['openai']?.base_url, 'http://127.0.0.1:9999/v1');
  assert.equal(file.model_providers?.['openai']?.env_key, 'OPENAI_API_KEY');
  assert.equal(file.model, 'm');
  assert.deepEqual(withOpenAiBaseUrl({}, {}), {}, 'unset: the file as it is');
});

test("the cluster file's own openai provider wins; a bad URL is refused naming the variable", () => {
  const own = { model_providers: { openai: { base_url: 'https://proxy.internal/v1' } } };
  assert.equal(withOpenAiBaseUrl(own, { OPENAI_BASE_URL: 'http://x/v1' }), own);
  assert.throws(
    () => withOpenAiBaseUrl({}, { OPENAI_BASE_URL: 'file:///etc/passwd' }),
    (err: unknown) => err instanceof ConfigError && err.message.includes('OPENAI_BASE_URL'),
  );
});
