// Docker for tests: an engine that answers (started when none does), and labels that let the
// teardown remove everything a test created, even after a failure.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { ensureDockerEngine } from './docker-engine.mjs';

export const TEST_LABEL = 'paddock.test';
const execFileAsync = promisify(execFile);

export async function ensureDocker(): Promise<Docker> {
  await ensureDockerEngine();
  const docker = new Docker();
  await docker.ping();
  return docker;
}

/** A run id and the labels to put on every container, network and volume the test creates. */
export function testRun(name: string): { runId: string; labels: Record<string, string> } {
  const runId = `${name.replace(/[^a-z0-9-]/gi, '-').slice(0, 20)}-${randomBytes(4).toString('hex')}`;
  return { runId, labels: { [TEST_LABEL]: runId, 'paddock.managed': 'true' } };
}

/** Removes every container, network and volume labelled `key=value` (by default this test run). */
export async function removeLabeled(
  docker: Docker,
  value: string,
  key = TEST_LABEL,
): Promise<{ containers: number; networks: number; volumes: number }> {
  const filters = JSON.stringify({ label: [`${key}=${value}`] });
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {}),
    ),
  );
  const networks = await docker.listNetworks({ filters });
  await Promise.all(
    networks.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => {}),
    ),
  );
  const { Volumes: volumes } = await docker.listVolumes({ filters });
  await Promise.all(
    (volumes ?? []).map((v) =>
      docker
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => {}),
    ),
  );
  // A workspace volume sits on an ext4 image attached to a loop device (the worker's workspace-disk.ts):
  // a worker that kept the workspace (graceful stop) or died leaves both, which removing the volume
  // does not release. Same path rule as the worker's removeWorkspaceDisk (testing cannot import it).
  for (const v of volumes ?? []) {
    const image = v.Labels?.['paddock.workspace-disk'];
    if (!image || !/\/workspaces\/sbx_[0-9a-f]+\.img$/.test(image)) continue;
    const attached = await execFileAsync('losetup', ['--associated', image]).catch(() => ({ stdout: '' }));
    for (const line of attached.stdout.split('\n')) {
      const device = line.split(':')[0]?.trim();
      if (device && /^\/dev\/loop\d+$/.test(device)) await execFileAsync('losetup', ['--detach', device]).catch(() => {});
    }
    await rm(image, { force: true }).catch(() => {});
    await rm(`${image}.json`, { force: true }).catch(() => {});
  }
  return { containers: containers.length, networks: networks.length, volumes: volumes?.length ?? 0 };
}
