// Pure logic: transcript compaction, the verdict rules, model answer parsing, admission control.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAdmission } from '../src/admission.ts';
import { compactTranscript, truncateMiddle } from '../src/transcript.ts';
import { decide, parseModelAnswer } from '../src/verdict.ts';

describe('transcript compaction', () => {
  test('truncateMiddle keeps head and tail, states the omitted size, and stays within budget', () => {
    const text = `BEGIN${'a'.repeat(10_000)}END`;
    const cut = truncateMiddle(text, 500);
    assert.ok(cut.length <= 500, `${cut.length}`);
    assert.ok(cut.startsWith('BEGIN') && cut.endsWith('END'));
    const omitted = Number(/\[\.\.\. (\d+) characters omitted \.\.\.\]/.exec(cut)?.[1]);
    assert.equal(cut.length - cut.match(/\n\[.*\]\n/)![0].length + omitted, text.length);
    assert.equal(truncateMiddle('short', 500), 'short');
  });

  test('the first user message always stays, then the latest items that fit, without gaps', () => {
    const items = [
      { role: 'assistant' as const, content: 'preamble' },
      { role: 'user' as const, content: 'THE TASK' },
      ...Array.from({ length: 20 }, (_, i) => ({
        role: 'tool' as const,
        content: `item-${i}-${'x'.repeat(90)}`,
      })),
    ];
    const c = compactTranscript(items, { maxChars: 1000, itemMaxChars: 500 });
    assert.equal(c.items[0]?.content, 'THE TASK');
    const tail = c.items.slice(1).map((i) => i.index);
    assert.ok(tail.length > 0 && tail.at(-1) === items.length - 1);
    tail.forEach((idx, k) => k > 0 && assert.equal(idx, tail[k - 1]! + 1));
    assert.ok(c.items.reduce((n, i) => n + i.content.length, 0) <= 1000);
    assert.equal(c.omittedItems, items.length - c.items.length);
  });

  test('reasoning items are dropped', () => {
    const c = compactTranscript(
      [
        { role: 'user', content: 'task' },
        { role: 'reasoning', content: 'hidden' },
        { role: 'assistant', content: 'ok' },
      ],
      { maxChars: 1000, itemMaxChars: 500 },
    );
    assert.deepEqual(
      c.items.map((i) => i.content),
      ['task', 'ok'],
    );
  });
});

describe('verdict rules', () => {
  const a = (risk: string, auth: string, outcome: string) =>
    ({ risk_level: risk, user_authorization: auth, outcome, rationale: 'r' }) as Parameters<typeof decide>[0];

  test('no combination approves what it should not', () => {
    for (const risk of ['low', 'medium', 'high', 'critical']) {
      for (const auth of ['unknown', 'low', 'medium', 'high']) {
        for (const outcome of ['allow', 'deny']) {
          const d = decide(a(risk, auth, outcome), 'medium');
          const expected =
            outcome === 'allow' &&
            (risk === 'low' ||
              risk === 'medium' ||
              (risk === 'high' && (auth === 'medium' || auth === 'high')));
          assert.equal(d.outcome, expected ? 'approved' : 'denied', `${risk}/${auth}/${outcome}`);
        }
      }
    }
  });

  test("parsing (Codex's contract): valid, not JSON, wrong enum, extra key ignored", () => {
    assert.equal(parseModelAnswer(JSON.stringify(a('low', 'unknown', 'allow'))).ok, true);
    assert.deepEqual((parseModelAnswer('{"risk_level":') as { reason: string }).reason, 'unparseable');
    assert.equal(
      (parseModelAnswer(JSON.stringify(a('severe', 'unknown', 'allow'))) as { reason: string }).reason,
      'schema_invalid',
    );
    assert.equal(parseModelAnswer(JSON.stringify({ ...a('low', 'unknown', 'allow'), approved: true })).ok, true);
  });
});

describe('admission', () => {
  test('admits up to maxInFlight, queues what can still make its deadline, sheds the rest at once', async () => {
    const adm = createAdmission({ maxInFlight: 2, maxQueue: 10, expectedLatencyMs: 100 });
    const now = performance.now();
    assert.equal(await adm.acquire(now + 1000), true);
    assert.equal(await adm.acquire(now + 1000), true);
    assert.equal(await adm.acquire(now + 150), false); // would start after ~100 ms and need 100 more
    const queued = adm.acquire(now + 1000);
    assert.equal(adm.queued, 1);
    adm.release();
    assert.equal(await queued, true);
    assert.equal(adm.inFlight, 2);
  });

  test('a queued request is shed when its deadline can no longer be met, not at the deadline', async () => {
    const adm = createAdmission({ maxInFlight: 1, maxQueue: 10, expectedLatencyMs: 100 });
    const start = performance.now();
    assert.equal(await adm.acquire(start + 10_000), true);
    const waited = await adm.acquire(start + 300);
    const elapsed = performance.now() - start;
    assert.equal(waited, false);
    assert.ok(elapsed < 300, `shed after ${elapsed} ms`);
  });

  test('a full queue and a saturated event loop shed', async () => {
    const lagged = createAdmission({
      maxInFlight: 5,
      maxQueue: 5,
      expectedLatencyMs: 10,
      lagMs: () => 500,
      maxLagMs: 100,
    });
    assert.equal(await lagged.acquire(performance.now() + 10_000), false);
    const full = createAdmission({ maxInFlight: 1, maxQueue: 0, expectedLatencyMs: 10 });
    assert.equal(await full.acquire(performance.now() + 10_000), true);
    assert.equal(await full.acquire(performance.now() + 10_000), false);
  });
});
