// The test harness every service's tests use: real Redis, real Docker, the sandbox image, and the
// fake model server. Nothing here is mocked but the model.
export { ensureDebianBase, ensureSandboxImage, imageContentHash, REPO_ROOT } from '../images.ts';
export { dockerAnswers, ensureDockerEngine } from './docker-engine.mjs';
export { ensureDocker, removeLabeled, TEST_LABEL, testRun } from './docker.ts';
export { type FakeModel, type RecordedRequest, type ScriptedReply, startFakeModel } from './fake-model.ts';
export { freePort, waitFor } from './ports.ts';
export { redisAnswers } from '../redis-server.ts';
export { type RedisServer, startRedis } from './redis.ts';
export { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.ts';
