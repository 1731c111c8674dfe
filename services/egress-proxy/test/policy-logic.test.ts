// Unit tests of the pure decisions: domain patterns, address classes, targets, ClientHello.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAddressPolicy } from '../src/address-policy.ts';
import { ECH_EXTENSION_TYPE, parseClientHello } from '../src/client-hello.ts';
import { compileDomains } from '../src/domain-match.ts';
import { compilePolicy, decide } from '../src/network-policy.ts';
import { parseAbsoluteTarget, parseConnectTarget } from '../src/target.ts';
import { clientHello, rawExtension, sniExtension, u16 } from './support/client-hello.ts';

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
    decide(p, { host, isIpLiteral: false, port, method, kind });
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
  assert.equal(decide(limited, { host: 'a.test', isIpLiteral: false, port: 80, method: 'GET', kind: 'http' }).allow, true);
  assert.equal(
    decide(limited, { host: 'a.test', isIpLiteral: false, port: 80, method: 'POST', kind: 'http' }).reason,
    'blocked-by-method',
  );
  assert.equal(
    decide(limited, { host: 'a.test', isIpLiteral: false, port: 443, method: 'CONNECT', kind: 'connect' }).reason,
    'blocked-by-method',
  );
  const off = compilePolicy({ mode: 'off', allowed_domains: ['a.test'], denied_domains: [] });
  assert.equal(decide(off, { host: 'a.test', isIpLiteral: false, port: 80, method: 'GET', kind: 'http' }).reason, 'network-off');
  // An exec's own approved domains pass; the sandbox's other execs do not have them.
  assert.equal(r('other.test').allow, false);
  assert.deepEqual(
    decide(p, { host: 'other.test', isIpLiteral: false, port: 80, method: 'GET', kind: 'http' }, compileDomains(['other.test'])),
    {
      allow: true,
      reason: 'allowed-by-exec',
    },
  );
});

test('policy: an IP literal is refused wherever a list applies (allowlist, or any denied domain), never escalated', () => {
  const literal = (host: string) => ({ host, isIpLiteral: true, port: 80, method: 'GET', kind: 'http' as const });
  const allowlist = compilePolicy({ mode: 'allowlist', allowed_domains: ['93.184.216.34'], denied_domains: [] });
  // Even when the allow list spells the address: lists name hosts.
  assert.deepEqual(decide(allowlist, literal('93.184.216.34')), {
    allow: false,
    reason: 'blocked-ip-literal',
    escalatable: false,
  });
  assert.equal(decide(allowlist, literal('2606:4700::1')).reason, 'blocked-ip-literal');
  const fullWithDeny = compilePolicy({ mode: 'full', allowed_domains: [], denied_domains: ['bad.test'] });
  assert.equal(decide(fullWithDeny, literal('93.184.216.34')).reason, 'blocked-ip-literal');
  assert.equal(decide(fullWithDeny, { ...literal('ok.test'), isIpLiteral: false }).allow, true);
  // Mode full without a deny list: no list to step around; the address check still applies later.
  const full = compilePolicy({ mode: 'full', allowed_domains: [], denied_domains: [] });
  assert.deepEqual(decide(full, literal('93.184.216.34')), { allow: true, reason: 'allowed-by-policy' });
  // The exec's own domains do not let a literal through either.
  assert.equal(
    decide(allowlist, literal('93.184.216.34'), compileDomains(['93.184.216.34'])).reason,
    'blocked-ip-literal',
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
  assert.equal(check('::ffff:8.8.8.8').allowed, true, 'IPv4-mapped is judged as its IPv4');
  const operator = createAddressPolicy(['127.0.0.2/32', 'fd00::/8']);
  assert.deepEqual(operator('127.0.0.2'), { allowed: true, address: '127.0.0.2' });
  assert.equal(operator('127.0.0.1').allowed, false);
  assert.equal(operator('fd12::1').allowed, true);
  // Verdicts are remembered per policy: asking again answers the same, and one policy's operator
  // ranges never answer for another's.
  assert.deepEqual(check('127.0.0.2'), { allowed: false, range: 'loopback' });
  assert.deepEqual(operator('127.0.0.2'), { allowed: true, address: '127.0.0.2' });
  assert.deepEqual(check('127.0.0.2'), { allowed: false, range: 'loopback' });
  for (let i = 0; i < 5000; i++) check(`93.184.${i >> 8}.${i & 255}`); // past the memo's bound
  assert.equal(check('10.1.2.3').allowed, false, 'still refused after the memo was cleared');
});

test('address policy: IPv6 forms carrying an IPv4, site-local and space outside 2000::/3 are refused, naming what they embed', () => {
  const check = createAddressPolicy();
  const refused = (address: string, range: RegExp) => {
    const verdict = check(address);
    assert.equal(verdict.allowed, false, address);
    assert.match(verdict.allowed ? '' : verdict.range, range, address);
  };
  refused('::127.0.0.1', /./); // IPv4-compatible (deprecated ::/96)
  refused('::a00:1', /ipv4-compatible.*10\.0\.0\.1 \(private\)/);
  refused('::808:808', /ipv4-compatible.*8\.8\.8\.8/); // a translator's reach is unknown: refused too
  refused('fec0::1', /./); // site-local fec0::/10
  refused('fec0:0:0:1::a', /./);
  refused('64:ff9b:1::a00:1', /nat64 local-use/);
  refused('64:ff9b::a00:1', /nat64 well-known.*10\.0\.0\.1 \(private\)/);
  refused('64:ff9b::a9fe:a9fe', /169\.254\.169\.254 \(linkLocal\)/);
  refused('2002:a00:1::1', /6to4.*10\.0\.0\.1 \(private\)/);
  refused('2002:7f00:1::1', /6to4.*127\.0\.0\.1 \(loopback\)/);
  // Teredo: the client's IPv4 is stored bit-inverted in the last 32 bits (f5ff:fffe = 10.0.0.1).
  refused('2001:0:4136:e378:8000:63bf:f5ff:fffe', /teredo.*10\.0\.0\.1 \(private\)/);
  refused('::ffff:0:a00:1', /ipv4-translated.*10\.0\.0\.1/);
  refused('4000::1', /outside 2000::\/3/);
  refused('100::1', /./); // discard-only
  refused('2001:db8::1', /./); // documentation
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


test('ClientHello: SNI read from one or several records; partial input waits; other bytes are not TLS', () => {
  assert.deepEqual(parseClientHello(clientHello('allowed.test')), {
    status: 'ok',
    serverName: 'allowed.test',
    extensionTypes: [0],
  });
  assert.deepEqual(parseClientHello(clientHello('x.test', true)), {
    status: 'ok',
    serverName: 'x.test',
    extensionTypes: [0],
  });
  assert.deepEqual(parseClientHello(clientHello(undefined)), {
    status: 'ok',
    serverName: undefined,
    extensionTypes: [],
  });
  const full = clientHello('allowed.test');
  assert.deepEqual(parseClientHello(full.subarray(0, full.length - 3)), { status: 'incomplete' });
  assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')), { status: 'not-tls' });
});

test('ClientHello: extension types are listed (ECH found); a duplicate or overrunning server name is not TLS', () => {
  const ech = rawExtension(ECH_EXTENSION_TYPE, Buffer.alloc(40, 0xab));
  const supportedVersions = rawExtension(43, Buffer.from([2, 0x03, 0x04]));
  assert.deepEqual(parseClientHello(clientHello('cover.test', true, [supportedVersions, ech])), {
    status: 'ok',
    serverName: 'cover.test',
    extensionTypes: [0, 43, 0xfe0d],
  });
  // Two server_name extensions: the proxy and the server could read different names.
  assert.deepEqual(parseClientHello(clientHello('allowed.test', false, [sniExtension('other.test')])), {
    status: 'not-tls',
  });
  // A server name list claiming more bytes than its extension holds.
  const overrun = Buffer.concat([u16(0), u16(2), u16(40)]);
  assert.deepEqual(parseClientHello(clientHello(undefined, false, [overrun, supportedVersions])), {
    status: 'not-tls',
  });
});
