// Docker for tests: an engine that answers (started when none does), and labels that let the
// teardown remove everything a test created, even after a failure.
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { ensureDockerEngine } from './docker-engine.mjs';

export const TEST_LABEL = 'paddock.test';

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
  return { containers: containers.length, networks: networks.length, volumes: volumes?.length ?? 0 };
}
