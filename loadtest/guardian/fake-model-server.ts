// Child process of the guardian bench: the fake model answering every request with an approval
// after a fixed latency. Prints its base URL as one JSON line, then serves until killed.
import { startFakeModel } from '@paddock/testing';

const latencyMs = Number(process.env['FAKE_MODEL_LATENCY_MS'] ?? '300');
const model = await startFakeModel();
model.setHandler(() => {
  // Recorded requests are not needed here; drop them so a long run does not grow memory.
  model.requests.length = 0;
  return {
    kind: 'json',
    value: {
      risk_level: 'low',
      user_authorization: 'unknown',
      outcome: 'allow',
      rationale: 'bench: routine',
    },
    delayMs: latencyMs,
  };
});
process.stdout.write(`${JSON.stringify({ url: model.url })}\n`);
const stop = () => void model.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
