// The isolation suite: real Docker, real sandboxes; every test is an attack that must fail.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, waitFor } from '@paddock/testing';
import { Redis } from 'ioredis';
import { SandboxManager } from '../src/sandbox-manager.ts';
import type { Sandbox } from '../src/sandbox.ts';
import { cleanup, type Fixture, fixture, SMALL_LIMITS, sh } from './helpers.ts';

let fx: Fixture;
let a: Sandbox;
let b: Sandbox;
// The positive control: something listening where the egress proxy will, so a blocked connection
// below is blocked by the design, not by a test that could never connect.
let proxyStandIn: Server;
let proxyConnections = 0;

after(cleanup);
before(async () => {
  const proxyPort = await freePort('0.0.0.0');
  proxyStandIn = createServer((s) => {
    proxyConnections++;
    s.on('error', () => {}); // the probe closes at once: a reset is expected
    s.end('proxy\n');
  });
  await new Promise<void>((r) => proxyStandIn.listen(proxyPort, '0.0.0.0', r));
  fx = await fixture('sbx-isolation', { proxyPort });
  [a, b] = await Promise.all([fx.sandbox(), fx.sandbox()]);
});
after(() => new Promise<void>((r) => proxyStandIn.close(() => r())));

describe('filesystem', () => {
  test('workspace-write cannot write outside its writable roots; writable_roots are honoured', async () => {
    await a.exec({ argv: ['mkdir', '-p', '/home/sandbox/cache'], mode: 'escalated' });
    const r = await a.exec({
      argv: sh(
        'echo x > /home/sandbox/f; echo "home=$?"; echo x > /etc/evil; echo "etc=$?"; echo x > /usr/bin/evil; echo "usr=$?";' +
          'echo x > /home/sandbox/cache/ok; echo "root=$?"; echo x > /workspace/ok; echo "ws=$?"',
      ),
      mode: 'workspace-write',
      writableRoots: ['/home/sandbox/cache'],
    });
    assert.match(r.stdout.text, /home=1/);
    assert.match(r.stdout.text, /etc=1/);
    assert.match(r.stdout.text, /usr=1/);
    assert.match(r.stdout.text, /root=0/);
    assert.match(r.stdout.text, /ws=0/);
    assert.match(r.stderr.text, /\/home\/sandbox\/f: Permission denied/);
    assert.match(r.stderr.text, /\/etc\/evil: Read-only file system/);
    const home = await a.exec({ argv: ['ls', '/home/sandbox'], mode: 'read-only' });
    assert.deepEqual(home.stdout.text.trim().split('\n').sort(), ['cache']);
  });

  test('read-only mode cannot create, change or delete anything in the workspace', async () => {
    await a.writeFile('keep.txt', 'original');
    const r = await a.exec({
      argv: sh(
        'echo x > /workspace/new.txt; echo "create=$?"; echo x >> keep.txt; echo "append=$?"; rm -f keep.txt; echo "rm=$?"; mkdir d; echo "mkdir=$?";' +
          "python3 -c \"import errno\ntry:\n open('/workspace/p','w')\nexcept OSError as e: print('py', errno.errorcode[e.errno])\"",
      ),
      mode: 'read-only',
    });
    for (const op of ['create', 'append', 'rm', 'mkdir']) assert.match(r.stdout.text, new RegExp(`${op}=1`));
    assert.match(r.stdout.text, /py EACCES/);
    assert.equal(String(await a.readFile('keep.txt')), 'original');
    assert.deepEqual((await a.listDir('.')).map((e) => e.name).sort(), ['keep.txt', 'ok']);
  });

  test('filling /tmp stops at the tmpfs size', async () => {
    const r = await a.exec({
      argv: sh(
        `dd if=/dev/zero of=/tmp/fill bs=1M count=${SMALL_LIMITS.tmpMb * 4} 2>&1; du -m /tmp/fill | cut -f1`,
      ),
      mode: 'workspace-write',
    });
    assert.match(r.stdout.text, /No space left on device/);
    const usedMb = Number(r.stdout.text.trim().split('\n').at(-1));
    assert.ok(usedMb <= SMALL_LIMITS.tmpMb, `${usedMb} MiB written to a ${SMALL_LIMITS.tmpMb} MiB /tmp`);
    await a.exec({ argv: ['rm', '-f', '/tmp/fill'], mode: 'workspace-write' });
  });

  test('no Docker socket and no host path is visible', async () => {
    const r = await a.exec({
      argv: sh(
        'find / \\( -path /proc -o -path /sys \\) -prune -o \\( -type s -o -name "docker*.sock" \\) -print 2>/dev/null; ' +
          'ls -d /work /var/lib/docker /root/.docker 2>&1; cat /proc/self/mountinfo',
      ),
      mode: 'read-only',
    });
    assert.doesNotMatch(r.stdout.text, /docker\.sock/);
    assert.match(r.stdout.text, /\/work': No such file/);
    assert.match(r.stdout.text, /\/var\/lib\/docker': No such file/);
    const mounts = r.stdout.text
      .split('\n')
      .filter((l) => /^\d+ \d+ /.test(l))
      .map((l) => {
        const f = l.split(' ');
        return { root: f[3]!, point: f[4]!, options: f[5]! };
      });
    const allowed =
      /^(\/|\/proc(\/.*)?|\/dev(\/.*)?|\/sys(\/.*)?|\/tmp|\/home\/sandbox|\/workspace|\/opt\/paddock\/(node|agent)|\/etc\/(hosts|hostname|resolv\.conf)|(\/usr)?\/sbin\/docker-init)$/;
    for (const m of mounts) assert.match(m.point, allowed, `unexpected mount ${m.point} (${m.root})`);
    // Docker's own init (HostConfig.Init) is the one host file bind-mounted, read-only.
    const init = mounts.find((m) => /^(\/usr)?\/sbin\/docker-init$/.test(m.point));
    assert.ok(init, 'Docker init is PID 1');
    assert.match(init.options, /^ro\b/, 'docker-init must be read-only');
    const runtime = mounts.filter((m) => m.point.startsWith('/opt/paddock/'));
    assert.equal(runtime.length, 2);
    for (const m of runtime) assert.match(m.options, /^ro\b/, `${m.point} must be read-only`);
    assert.match(
      mounts.find((m) => m.point === '/workspace')!.root,
      new RegExp(`/volumes/${a.volumeName}/_data`),
    );
  });
});

describe('processes', () => {
  test('CapEff is 0 for commands and for the agent', async () => {
    const agent = await a.agent();
    const r = await a.exec({
      argv: sh(`grep CapEff /proc/self/status /proc/${agent.pid}/status`),
      mode: 'escalated',
    });
    const lines = r.stdout.text.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /CapEff:\s+0000000000000000$/);
  });

  test('a setuid binary does not raise privileges', async () => {
    const r = await a.exec({
      argv: sh(
        'ls -l /usr/bin/su; (sleep 3 | su -c id root >/dev/null 2>&1 &); sleep 1; grep ^Uid /proc/$(pgrep -x su)/status',
      ),
      mode: 'escalated',
      timeoutMs: 10_000,
    });
    assert.match(r.stdout.text, /^-rwsr-xr-x .* root root/m); // it is setuid root...
    assert.match(r.stdout.text, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m); // ...and runs as 1000 all the same
  });

  test('a fork bomb hits the pids limit, is killed, and the host and other sandboxes stay responsive', async () => {
    const bomb = a.exec({ argv: sh(':(){ :|:& };:; sleep 30'), mode: 'workspace-write', timeoutMs: 4_000 });
    // While it runs: the engine and another sandbox answer.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(String(await fx.docker.ping()), 'OK');
    const other = await b.exec({ argv: ['echo', 'responsive'], mode: 'read-only', timeoutMs: 10_000 });
    assert.equal(other.stdout.text, 'responsive\n');
    const r = await bomb;
    assert.equal(r.pidsLimitHit, true);
    assert.match(r.stderr.text, /fork: (retry: )?Resource temporarily unavailable/);
    const left = await a.exec({ argv: ['ps', '-eo', 'comm='], mode: 'read-only' });
    assert.doesNotMatch(left.stdout.text, /bash/, 'no bomb process survived');
  });

  test('a memory bomb is reported as OOM; the agent and other sandboxes are unaffected', async () => {
    const agentPid = (await a.agent()).pid;
    const otherPid = (await b.agent()).pid;
    const r = await a.exec({
      argv: ['python3', '-c', 'a = []\nwhile True: a.append(bytearray(16 * 1024 * 1024))'],
      mode: 'workspace-write',
      timeoutMs: 30_000,
    });
    assert.equal(r.oomKilled, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.timedOut, false);
    assert.equal((await a.agent()).pid, agentPid, 'the OOM killer chose the command, not the agent');
    assert.equal((await b.agent()).pid, otherPid);
    const ok = await b.exec({ argv: ['echo', 'fine'], mode: 'read-only' });
    assert.equal(ok.stdout.text, 'fine\n');
    assert.equal(ok.oomKilled, false);
  });

  test('a command that daemonises children and times out leaves no process behind', async () => {
    const r = await a.exec({
      argv: sh(
        '(setsid bash -c "sleep 301" &); nohup sleep 302 >/dev/null 2>&1 & (setsid env -i /bin/sleep 303 &); trap "" TERM; sleep 300',
      ),
      mode: 'workspace-write',
      timeoutMs: 1_000,
    });
    assert.equal(r.timedOut, true);
    const ps = await a.exec({ argv: ['ps', '-eo', 'args='], mode: 'read-only' });
    assert.doesNotMatch(ps.stdout.text, /sleep 30\d/);
  });

  test('100 MB of output is capped; what reaches the worker is bounded', async () => {
    const session = await a.agent();
    const before = session.receivedBytes;
    const maxOutputBytes = 64 * 1024;
    const r = await a.exec({
      argv: sh("head -c 100000000 /dev/zero | tr '\\0' x; echo END"),
      mode: 'read-only',
      maxOutputBytes,
      timeoutMs: 120_000,
    });
    const received = session.receivedBytes - before;
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.totalBytes, 100_000_004);
    assert.equal(r.stdout.omittedBytes, 100_000_004 - maxOutputBytes);
    assert.match(r.stdout.text, /^x{32768}\n\[\.\.\. 99934468 bytes omitted \.\.\.\]\nx{32764}END\n$/);
    assert.ok(received < 4 * maxOutputBytes, `${received} bytes crossed the exec stream`);
  });
});

describe('network', () => {
  let hostRedis: ReturnType<typeof spawn>;
  let redisPort: number;
  const listeners: Server[] = [];
  const hits: number[] = [];
  before(async () => {
    redisPort = await freePort('0.0.0.0');
    hostRedis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', ''],
      { stdio: 'ignore' },
    );
    await waitFor(
      async () => {
        const c = new Redis({
          port: redisPort,
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        try {
          await c.connect();
          return (await c.ping()) === 'PONG';
        } finally {
          c.disconnect();
        }
      },
      10_000,
      'redis on 0.0.0.0',
    );
    for (let i = 0; i < 2; i++) {
      const srv = createServer((s) => {
        hits.push(i);
        s.on('error', () => {});
        s.end('hello\n');
      });
      await new Promise<void>((r) => srv.listen(0, '0.0.0.0', r));
      listeners.push(srv);
    }
  });
  after(async () => {
    hostRedis.kill('SIGTERM');
    await Promise.all(listeners.map((s) => new Promise((r) => s.close(r))));
  });

  const probe = (s: Sandbox, targets: [string, string, number][]) =>
    s.exec({
      argv: [
        'python3',
        '-c',
        'import socket, sys, json\nout = {}\nfor name, host, port in json.loads(sys.argv[1]):\n' +
          '    try:\n        socket.create_connection((host, port), timeout=2).close(); out[name] = "connected"\n' +
          '    except Exception as e: out[name] = type(e).__name__\nprint(json.dumps(out))',
        JSON.stringify(targets),
      ],
      mode: 'escalated',
      network: true, // the network is allowed for this exec: what stops it must be the firewall
      timeoutMs: 30_000,
    });

  test("the host's Redis, the worker's and orchestrator's ports and the Docker API are unreachable through the gateway", async () => {
    const gw = fx.network.gateway;
    const workerPort = (listeners[0]!.address() as { port: number }).port;
    const orchestratorPort = (listeners[1]!.address() as { port: number }).port;
    const r = await probe(a, [
      ['proxy', gw, fx.proxyPort],
      ['redis', gw, redisPort],
      ['worker', gw, workerPort],
      ['orchestrator', gw, orchestratorPort],
      ['docker_tcp', gw, 2375],
      ['docker_tls', gw, 2376],
    ]);
    const out = JSON.parse(r.stdout.text) as Record<string, string>;
    assert.equal(out['proxy'], 'connected', 'positive control: the proxy port is reachable');
    for (const name of ['redis', 'worker', 'orchestrator', 'docker_tcp', 'docker_tls'])
      assert.notEqual(out[name], 'connected', `${name} reachable from a sandbox`);
    assert.deepEqual(hits, []);
    assert.ok(proxyConnections >= 1);
    // The Docker API's unix socket is not in the sandbox either (see the mount test).
    const sock = await a.exec({
      argv: sh('test -e /var/run/docker.sock || test -e /run/docker.sock; echo $?'),
      mode: 'read-only',
    });
    assert.equal(sock.stdout.text.trim(), '1');
  });

  test('a sandbox cannot connect to another sandbox', async () => {
    const server = b.exec({
      argv: ['python3', '-m', 'http.server', '8000', '--bind', '0.0.0.0'],
      mode: 'escalated',
      network: true,
      timeoutMs: 8_000, // ends by its timeout: another exec cannot signal it (Landlock signal scoping)
    });
    try {
      const self = await waitForConnect(b, b.ip);
      assert.equal(self, 'connected', 'positive control: the server answers inside its own sandbox');
      const r = await probe(a, [['peer', b.ip, 8000]]);
      assert.notEqual(JSON.parse(r.stdout.text)['peer'], 'connected');
    } finally {
      assert.equal((await server).timedOut, true);
    }
  });

  test('no resolver: names do not resolve inside a sandbox', async () => {
    const r = await a.exec({
      argv: sh('getent hosts example.com; echo "rc=$?"'),
      mode: 'escalated',
      network: true,
    });
    assert.match(r.stdout.text, /rc=2/);
  });

  test('execs without network permission cannot open TCP connections at all', async () => {
    const r = await a.exec({
      argv: [
        'python3',
        '-c',
        `import socket\ntry:\n socket.create_connection(("${fx.network.gateway}", ${fx.proxyPort}), timeout=2)\n print("connected")\nexcept OSError as e: print(e.strerror)`,
      ],
      mode: 'workspace-write',
    });
    assert.equal(r.stdout.text.trim(), 'Permission denied');
  });

  async function waitForConnect(s: Sandbox, host: string): Promise<string> {
    let last = '';
    for (let i = 0; i < 20; i++) {
      const r = await probe(s, [['self', host, 8000]]);
      last = (JSON.parse(r.stdout.text) as Record<string, string>)['self'] ?? '';
      if (last === 'connected') return last;
      await new Promise((res) => setTimeout(res, 250));
    }
    return last;
  }
});

describe('tenancy', () => {
  test('a second tenant never sees a file of the first: warm sandboxes are never reused', async () => {
    const redis = fx.redis.client();
    const manager = new SandboxManager({
      docker: fx.docker,
      redis,
      workerId: fx.workerId,
      network: fx.network,
      runtime: fx.runtime,
      defaultShape: fx.shape,
      warmPoolSize: 1,
      idleTtlMs: 60_000,
      execTimeoutMs: 10_000,
      maxOutputBytes: 65_536,
      scope: fx.run.labels,
    });
    await redis.set(`paddock:worker:${fx.workerId}:lease`, '1', 'PX', 120_000);
    try {
      await manager.pool.topUp(fx.shape);
      const first = await manager.forThread({ workspace: 'tenant-a', thread: 't1' });
      assert.equal(first.source, 'warm');
      await manager.exec(first.sandbox, {
        argv: sh('echo secret > /workspace/secret.txt; echo secret > /tmp/secret.txt'),
        mode: 'workspace-write',
      });
      await manager.release({ workspace: 'tenant-a', thread: 't1' });
      await manager.pool.topUp(fx.shape);
      const second = await manager.forThread({ workspace: 'tenant-b', thread: 't2' });
      assert.equal(second.source, 'warm');
      assert.notEqual(second.sandbox.id, first.sandbox.id);
      const r = await manager.exec(second.sandbox, {
        argv: sh('cat /workspace/secret.txt /tmp/secret.txt 2>&1; ls -A /workspace | wc -l'),
        mode: 'read-only',
      });
      assert.match(r.stdout.text, /secret.txt: No such file/);
      assert.doesNotMatch(r.stdout.text, /^secret$/m);
      assert.equal(r.stdout.text.trim().split('\n').at(-1), '0');
      const gone = await fx.docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`paddock.sandbox=${first.sandbox.id}`] }),
      });
      assert.equal(gone.length, 0, "the first tenant's sandbox was destroyed");
    } finally {
      await manager.close();
    }
  });
});
