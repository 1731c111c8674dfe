// Sandbox stand-ins for the proxy's tests (the sandbox runtime is built in parallel): an internal
// Docker network with icc off, and hardened containers of the sandbox image on it with no resolver.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

export type TestNetwork = { name: string; id: string; gateway: string };

/** An internal bridge (sandboxes cannot reach each other); Docker picks the subnet. */
export async function createInternalNetwork(
  docker: Docker,
  labels: Record<string, string>,
  prefix: string,
): Promise<TestNetwork> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`; // <= 15 chars: it is the bridge name too
  const net = await docker.createNetwork({
    Name: name,
    Internal: true,
    CheckDuplicate: true,
    Labels: labels,
    Options: {
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.bridge.name': name,
    },
  });
  const info = await net.inspect();
  const gateway = info.IPAM?.Config?.[0]?.Gateway as string | undefined;
  if (!gateway) throw new Error(`network ${name} has no gateway`);
  return { name, id: net.id, gateway };
}

export type Sandbox = { container: Docker.Container; address: string };

export async function startSandbox(
  docker: Docker,
  image: string,
  network: TestNetwork,
  labels: Record<string, string>,
): Promise<Sandbox> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['sleep', 'infinity'],
    User: '1000:1000',
    Labels: labels,
    HostConfig: {
      NetworkMode: network.name,
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Init: true,
      Tmpfs: { '/tmp': 'rw,size=16m' },
      PidsLimit: 256,
      Memory: 256 * 1024 * 1024,
      // No resolver inside the sandbox: nothing answers on the container's own loopback.
      Dns: ['127.0.0.1'],
      DnsSearch: [],
    },
  });
  await container.start();
  const info = await container.inspect();
  const address = info.NetworkSettings.Networks[network.name]?.IPAddress;
  if (!address) throw new Error('sandbox has no address on its network');
  return { container, address };
}

export type ExecResult = { code: number; stdout: string; stderr: string };

/** Runs a bash script in the sandbox as its user; bounded by `timeout`. */
export async function sh(
  docker: Docker,
  container: Docker.Container,
  script: string,
  timeoutS = 60,
): Promise<ExecResult> {
  const exec = await container.exec({
    Cmd: ['timeout', '-s', 'KILL', String(timeoutS), 'bash', '-c', script],
    AttachStdout: true,
    AttachStderr: true,
    User: '1000:1000',
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const o = new PassThrough();
  const e = new PassThrough();
  o.on('data', (c: Buffer) => out.push(c));
  e.on('data', (c: Buffer) => err.push(c));
  docker.modem.demuxStream(stream, o, e);
  await new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
  const info = await exec.inspect();
  return {
    code: info.ExitCode ?? -1,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

export type CurlResult = {
  /** Status of the final response (0 when none), and of the CONNECT when tunnelled. */
  status: number;
  connectStatus: number;
  exit: number;
  reason: string | undefined;
  headers: string;
  body: string;
};

/** curl inside the sandbox; headers of the CONNECT answer are included in `headers`. */
export async function curl(docker: Docker, container: Docker.Container, args: string): Promise<CurlResult> {
  const r = await sh(
    docker,
    container,
    `rm -f /tmp/h /tmp/b; curl -sS --max-time 20 -D /tmp/h -o /tmp/b -w 'CODE %{http_code} %{http_connect}\\n' ${args}; echo "EXIT $?"; echo ===H; cat /tmp/h 2>/dev/null; echo ===B; cat /tmp/b 2>/dev/null`,
  );
  const code = /CODE (\d+) (\d+)/.exec(r.stdout);
  const exit = /EXIT (\d+)/.exec(r.stdout);
  const headers = r.stdout.split('===H')[1]?.split('===B')[0] ?? '';
  const reasons = [...headers.matchAll(/x-paddock-reason: *(\S+)/gi)].map((m) => m[1]);
  return {
    status: Number(code?.[1] ?? 0),
    connectStatus: Number(code?.[2] ?? 0),
    exit: Number(exit?.[1] ?? -1),
    reason: reasons.at(-1),
    headers,
    body: r.stdout.split('===B')[1] ?? '',
  };
}

// The sandbox network's host firewall (the design's rule, as the sandbox runtime adds it): on the
// bridge, INPUT accepts TCP to the proxy port only and drops the rest, so host addresses (this
// test's upstreams included) are unreachable from a sandbox but through the proxy. Each rule
// carries a comment naming the network; removeFirewall deletes exactly those.
const execFileAsync = promisify(execFile);
const comment = (network: string) => `paddock-net:${network}`;

/** One DROP for the bridge, and an ACCEPT above it for each proxy port (a number or several). */
export async function addFirewall(network: TestNetwork, proxyPorts: number | number[]): Promise<void> {
  const c = ['-m', 'comment', '--comment', comment(network.name)];
  await execFileAsync('iptables', ['-w', '5', '-I', 'INPUT', '-i', network.name, ...c, '-j', 'DROP']);
  for (const port of [proxyPorts].flat()) {
    await execFileAsync('iptables', [
      '-w',
      '5',
      '-I',
      'INPUT',
      '-i',
      network.name,
      '-p',
      'tcp',
      '--dport',
      String(port),
      ...c,
      '-j',
      'ACCEPT',
    ]);
  }
  await execFileAsync('ip6tables', ['-w', '5', '-I', 'INPUT', '-i', network.name, ...c, '-j', 'DROP']).catch(
    () => {},
  );
}

export async function removeFirewall(network: string): Promise<number> {
  let removed = 0;
  for (const binary of ['iptables', 'ip6tables']) {
    const listing = await execFileAsync(binary, ['-w', '5', '-S', 'INPUT']).then(
      (r) => r.stdout,
      () => '',
    );
    for (const line of listing.split('\n')) {
      if (!line.startsWith('-A ') || !line.includes(comment(network))) continue;
      const words = line
        .trim()
        .split(/\s+/)
        .slice(1)
        .map((w) => w.replace(/"/g, ''));
      // A concurrent sweep may have deleted it between the listing and here: gone is what we want.
      const deleted = await execFileAsync(binary, ['-w', '5', '-D', ...words]).then(
        () => true,
        () => false,
      );
      if (deleted) removed++;
    }
  }
  return removed;
}
