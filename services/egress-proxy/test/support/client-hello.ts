// Crafted TLS ClientHello bytes for the tests: an SNI extension and any raw extensions (ECH, ...),
// in one TLS record or split over two. Not a usable handshake: only what the proxy's gate reads.

export const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

export function sniExtension(serverName: string): Buffer {
  const name = Buffer.from(serverName, 'ascii');
  const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
  const list = Buffer.concat([u16(entry.length), entry]);
  return Buffer.concat([u16(0), u16(list.length), list]);
}

export const rawExtension = (type: number, body: Buffer): Buffer =>
  Buffer.concat([u16(type), u16(body.length), body]);

export function clientHello(serverName: string | undefined, split = false, extra: Buffer[] = []): Buffer {
  const ext: Buffer[] = [];
  if (serverName) ext.push(sniExtension(serverName));
  ext.push(...extra);
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
