import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import { ensureDocker, removeLabeled, TEST_LABEL, testRun } from '../src/docker.ts';
import { ensureSandboxImage, imageContentHash } from '@paddock/platform';

const run = testRun('harness-docker');
let docker: Docker;
let image: string;

before(async () => {
  docker = await ensureDocker();
  image = await ensureSandboxImage(docker);
});
after(() => removeLabeled(docker, run.runId));

test('the sandbox base image is tagged by the content hash of its inputs, and cached', async () => {
  const info = await docker.getImage(image).inspect();
  assert.ok(
    image.endsWith(
      `:${imageContentHash('base', process.env['PADDOCK_SANDBOX_BASE'] ?? 'paddock/debian:bookworm-local')}`,
    ),
  );
  assert.equal(info.Config.User, '1000:1000');
  // A second call finds it and returns the same tag without building.
  const again = await ensureSandboxImage(docker, 'base', (line) => assert.fail(`rebuilt: ${line}`));
  assert.equal(again, image);
});

test('a command runs in a container of the base image, as the sandbox user', async () => {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['bash', '-c', 'id -u; id -g; python3 -c "print(6*7)"; git --version | cut -d" " -f1; pwd'],
    Labels: run.labels,
    HostConfig: {
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      NetworkMode: 'none',
    },
  });
  await container.start();
  const { StatusCode } = await container.wait();
  const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
  assert.equal(StatusCode, 0, logs);
  const lines = logs
    .replace(/[\x00-\x08]/g, '')
    .split('\n')
    .map((l) => l.trim().replace(/^.*?(\S+)$/, '$1'));
  assert.ok(lines.includes('1000'), logs);
  assert.ok(lines.includes('42'), logs);
  assert.ok(lines.includes('git'), logs);
  assert.ok(lines.includes('/workspace'), logs);
});

test('the teardown removes every container, network and volume carrying the run label', async () => {
  const other = testRun('harness-other');
  await docker.createVolume({ Name: `${other.runId}-vol`, Labels: other.labels });
  await docker.createNetwork({ Name: `${other.runId}-net`, Labels: other.labels, Internal: true });
  await docker.createContainer({ Image: image, Cmd: ['true'], Labels: other.labels });
  const removed = await removeLabeled(docker, other.runId);
  assert.deepEqual(removed, { containers: 1, networks: 1, volumes: 1 });
  const filters = JSON.stringify({ label: [`${TEST_LABEL}=${other.runId}`] });
  assert.equal((await docker.listContainers({ all: true, filters })).length, 0);
  assert.equal((await docker.listNetworks({ filters })).length, 0);
  assert.equal((await docker.listVolumes({ filters })).Volumes?.length ?? 0, 0);
});
