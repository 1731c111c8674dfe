// Unit tests of the pure decisions: domain patterns, address classes, targets, ClientHello.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAddressPolicy } from '../src/address-policy.ts';
import { parseClientHello } from '../src/client-hello.ts';
import { compileDomains } from '../src/domain-match.ts';
import { compilePolicy, decide } from '../src/policy.ts';
import { parseAbsoluteTarget, parseConnectTarget } from '../src/target.ts';

test('domain patterns: exact, *. subdomains only, **. apex and subdomains, label-aligned', () => {
  const m = compileDomains(['example.com', '*.sub.org', '**.both.net']);
  assert.equal(m('example.com'), true);
  assert.equal(m('www.example.com'), false);
  assert.equal(m('a.sub.org'), true);
  assert.equal(m('a.b.sub.org'), true);
  assert.equal(m('sub.org'), false);
  assert.equal(m('badsub.org'), false);
  assert.equal(m('both.net'), true);
  assert.equal(m('x.both.net'), true);
  assert.equal(m('notboth.net'), false);
});

test('policy: deny wins, ports, method limit refuses CONNECT, only an allowlist miss escalates', () => {
  const p = compilePolicy({
    mode: 'allowlist',
    allowed_domains: ['**.ok.test'],
    denied_domains: ['bad.ok.test'],
    allowed_ports: [80, 443],
  });
  const r = (host: string, port = 80, method = 'GET', kind: 'http' | 'connect' = 'http') =>
    decide(p, { host, port, method, kind });
  assert.deepEqual(r('ok.test'), { allow: true, reason: 'allowed-by-policy' });
  assert.deepEqual(r('bad.ok.test'), { allow: false, reason: 'blocked-by-denylist', escalatable: false });
  assert.deepEqual(r('ok.test', 8080), { allow: false, reason: 'blocked-by-port', escalatable: false });
  assert.deepEqual(r('other.test'), { allow: false, reason: 'blocked-by-allowlist', escalatable: true });
  const limited = compilePolicy({
    mode: 'full',
    allowed_domains: [],
    denied_domains: [],
    allowed_methods: ['GET'],
  });
  assert.equal(decide(limited, { host: 'a.test', port: 80, method: 'GET', kind: 'http' }).allow, true);
  assert.equal(
    decide(limited, { host: 'a.test', port: 80, method: 'POST', kind: 'http' }).reason,
    'blocked-by-method',
  );
  assert.equal(
    decide(limited, { host: 'a.test', port: 443, method: 'CONNECT', kind: 'connect' }).reason,
    'blocked-by-method',
  );
  const off = compilePolicy({ mode: 'off', allowed_domains: ['a.test'], denied_domains: [] });
  assert.equal(decide(off, { host: 'a.test', port: 80, method: 'GET', kind: 'http' }).reason, 'network-off');
  // An exec's own approved domains pass; the sandbox's other execs do not have them.
  assert.equal(r('other.test').allow, false);
  assert.deepEqual(
    decide(p, { host: 'other.test', port: 80, method: 'GET', kind: 'http' }, compileDomains(['other.test'])),
    {
      allow: true,
      reason: 'allowed-by-exec',
    },
  );
});

test('address policy refuses every non-global range, IPv4-mapped too, unless an operator allows it', () => {
  const check = createAddressPolicy();
  for (const bad of [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a00:1',
    '2002:a00:1::1',
  ]) {
    assert.equal(check(bad).allowed, false, bad);
  }
  assert.equal(check('93.184.216.34').allowed, true);
  assert.equal(check('2606:4700::1').allowed, true);
  const operator = createAddressPolicy(['127.0.0.2/32', 'fd00::/8']);
  assert.deepEqual(operator('127.0.0.2'), { allowed: true, address: '127.0.0.2' });
  assert.equal(operator('127.0.0.1').allowed, false);
  assert.equal(operator('fd12::1').allowed, true);
});

test('targets are normalised by the URL parser: numeric loopback forms become 127.0.0.1', () => {
  assert.deepEqual(parseConnectTarget('Example.COM.:443'), {
    host: 'example.com',
    port: 443,
    isIpLiteral: false,
  });
  assert.deepEqual(parseConnectTarget('127.1:80'), { host: '127.0.0.1', port: 80, isIpLiteral: true });
  assert.deepEqual(parseConnectTarget('0x7f.0.0.1:80'), { host: '127.0.0.1', port: 80, isIpLiteral: true });
  assert.deepEqual(parseConnectTarget('[::1]:443'), { host: '::1', port: 443, isIpLiteral: true });
  assert.equal(parseConnectTarget('example.com'), undefined);
  assert.equal(parseConnectTarget('a@b:80'), undefined);
  assert.deepEqual(parseAbsoluteTarget('http://2130706433:8080/x?y=1'), {
    target: { host: '127.0.0.1', port: 8080, isIpLiteral: true },
    path: '/x?y=1',
  });
  assert.equal(parseAbsoluteTarget('/relative'), undefined);
  assert.equal(parseAbsoluteTarget('https://a.test/'), undefined);
});

// A minimal ClientHello with an SNI extension, split over two TLS records when asked.
function clientHello(serverName: string | undefined, split = false): Buffer {
  const ext: Buffer[] = [];
  if (serverName) {
    const name = Buffer.from(serverName, 'ascii');
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    const list = Buffer.concat([u16(entry.length), entry]);
    ext.push(Buffer.concat([u16(0), u16(list.length), list]));
  }
  const extensions = Buffer.concat(ext);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(extensions.length),
    extensions,
  ]);
  const hs = Buffer.concat([Buffer.from([1, 0, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  const rec = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(b.length), b]);
  if (!split) return rec(hs);
  return Buffer.concat([rec(hs.subarray(0, 20)), rec(hs.subarray(20))]);
}
const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

test('ClientHello: SNI read from one or several records; partial input waits; other bytes are not TLS', () => {
  assert.deepEqual(parseClientHello(clientHello('allowed.test')), {
    status: 'ok',
    serverName: 'allowed.test',
  });
  assert.deepEqual(parseClientHello(clientHello('x.test', true)), { status: 'ok', serverName: 'x.test' });
  assert.deepEqual(parseClientHello(clientHello(undefined)), { status: 'ok', serverName: undefined });
  const full = clientHello('allowed.test');
  assert.deepEqual(parseClientHello(full.subarray(0, full.length - 3)), { status: 'incomplete' });
  assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')), { status: 'not-tls' });
});
