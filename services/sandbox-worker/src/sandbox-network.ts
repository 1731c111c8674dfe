// The sandbox network: an internal Docker bridge without inter-container traffic, whose only
// reachable peer is the egress proxy on the gateway address. Host firewall rules for its bridge
// interface are added with it and removed with it; each carries a comment naming the network.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { PaddockError } from '@paddock/platform';
import type { SandboxNetworkRecord } from '@paddock/contracts';
import { sandboxLabels } from '@paddock/contracts';

const run = promisify(execFile);

export type SandboxNetwork = SandboxNetworkRecord;

const ruleComment = (network: string) => `paddock-net:${network}`;

async function iptables(binary: 'iptables' | 'ip6tables', args: string[]): Promise<string> {
  const { stdout } = await run(binary, ['-w', '5', ...args], { timeout: 10_000 });
  return stdout;
}

/** The rules for one bridge: TCP to the proxy port accepted, everything else from the bridge dropped. */
async function addFirewall(net: SandboxNetwork): Promise<void> {
  const comment = ['-m', 'comment', '--comment', ruleComment(net.name)];
  // Inserted at the top, DROP first, so ACCEPT ends above it.
  await iptables('iptables', ['-I', 'INPUT', '-i', net.bridge, ...comment, '-j', 'DROP']);
  await iptables('iptables', [
    '-I',
    'INPUT',
    '-i',
    net.bridge,
    '-p',
    'tcp',
    '--dport',
    String(net.proxyPort),
    ...comment,
    '-j',
    'ACCEPT',
  ]);
  // IPv6: the bridge has a link-local address a sandbox could derive; nothing is allowed over it.
  await iptables('ip6tables', ['-I', 'INPUT', '-i', net.bridge, ...comment, '-j', 'DROP']).catch(() => {});
}

/** Deletes exactly the rules whose comment names `network`; returns how many. */
export async function removeFirewall(network: string): Promise<number> {
  let removed = 0;
  for (const binary of ['iptables', 'ip6tables'] as const) {
    let listing: string;
    try {
      listing = await iptables(binary, ['-S', 'INPUT']);
    } catch {
      continue;
    }
    for (const line of listing.split('\n')) {
      const words = line.trim().split(/\s+/);
      const i = words.indexOf('--comment');
      if (words[0] !== '-A' || i < 0 || words[i + 1]?.replace(/"/g, '') !== ruleComment(network)) continue;
      // Another process (a reaper's sweep) may have deleted it since the listing: gone is the goal.
      const deleted = await iptables(binary, ['-D', ...words.slice(1).map((w) => w.replace(/"/g, ''))]).then(
        () => true,
        () => false,
      );
      if (deleted) removed++;
    }
  }
  // A rule that is still there after all (not deleted by us or anyone) is an error, never ignored.
  const left = await firewalledNetworks();
  if (left.includes(network)) throw new Error(`firewall rules of ${network} could not be removed`);
  return removed;
}

/** Names of networks that still have firewall rules (for the reaper's orphan sweep). */
export async function firewalledNetworks(): Promise<string[]> {
  const listing = await iptables('iptables', ['-S', 'INPUT']).catch(() => '');
  const names = new Set<string>();
  for (const m of listing.matchAll(/--comment "?paddock-net:([^\s"]+)"?/g)) names.add(m[1]!);
  return [...names];
}

/**
 * Removes the rules of sandbox networks that no longer exist (a worker that died between removing
 * its network and its rules). Rules are added only after their network exists, so a rule without
 * a network is always an orphan.
 */
export async function sweepOrphanFirewall(docker: Docker): Promise<number> {
  let removed = 0;
  for (const name of await firewalledNetworks()) {
    const exists = await docker
      .getNetwork(name)
      .inspect()
      .then(() => true)
      .catch((err: { statusCode?: number }) => err.statusCode !== 404); // unsure: keep the rules
    if (!exists) removed += await removeFirewall(name).catch(() => 0);
  }
  return removed;
}

/**
 * Creates the network and its firewall; fails closed: when the rules cannot be added the network
 * is removed again and the error says why.
 */
export async function createSandboxNetwork(
  docker: Docker,
  opts: { workerId: string; proxyPort: number; name?: string; scope?: Record<string, string> },
): Promise<SandboxNetwork> {
  const short = randomBytes(5).toString('hex');
  const name = opts.name ?? `paddock-sbx-${short}`;
  const bridge = `pdk-${short}`;
  const created = await docker.createNetwork({
    Name: name,
    Driver: 'bridge',
    Internal: true,
    CheckDuplicate: true,
    Options: {
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.bridge.name': bridge,
    },
    Labels: sandboxLabels({ kind: 'sandbox-network', workerId: opts.workerId, scope: opts.scope }),
  });
  const info = await created.inspect();
  const ipam = info.IPAM?.Config?.[0] as { Gateway?: string; Subnet?: string } | undefined;
  const net: SandboxNetwork = {
    name,
    id: info.Id,
    bridge,
    gateway: ipam?.Gateway ?? '',
    subnet: ipam?.Subnet ?? '',
    proxyPort: opts.proxyPort,
  };
  try {
    if (!net.gateway) throw new Error('Docker reported no gateway address');
    await addFirewall(net);
  } catch (err) {
    await removeFirewall(name).catch(() => {});
    await created.remove().catch(() => {});
    throw new PaddockError('sandbox_network_failed', `cannot firewall ${name}: ${(err as Error).message}`, {
      status: 503,
    });
  }
  return net;
}

/** Removes the network (after its containers) and then its rules: no moment with a bridge unfirewalled. */
export async function removeSandboxNetwork(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getNetwork(name).remove();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  await removeFirewall(name);
}
