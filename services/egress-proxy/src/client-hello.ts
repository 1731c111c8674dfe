// Reads the server name (SNI) and the extension types from the first bytes a client sends into a
// tunnel: a TLS ClientHello, possibly split over several TLS records. Used to refuse a tunnel whose
// TLS names another host than its CONNECT target (domain fronting past the allowlist), or hides
// the real name with Encrypted Client Hello.

export type ClientHelloResult =
  | { status: 'incomplete' }
  | { status: 'not-tls' }
  | { status: 'ok'; serverName: string | undefined; extensionTypes: number[] };

/** TLS extension type of Encrypted Client Hello (draft-ietf-tls-esni): the outer SNI is a cover name. */
export const ECH_EXTENSION_TYPE = 0xfe0d;

/** Larger than any real ClientHello; beyond it the client is not speaking TLS to us in good faith. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

export function parseClientHello(buf: Buffer): ClientHelloResult {
  // Reassemble the handshake bytes from consecutive handshake records.
  const parts: Buffer[] = [];
  let offset = 0;
  let handshakeLength = -1;
  let collected = 0;
  while (true) {
    if (buf.length < offset + 5)
      return buf.length > MAX_CLIENT_HELLO_BYTES ? { status: 'not-tls' } : { status: 'incomplete' };
    if (buf[offset] !== 0x16 || buf[offset + 1] !== 0x03) return { status: 'not-tls' };
    const recordLength = buf.readUInt16BE(offset + 3);
    if (recordLength === 0 || recordLength > 16_384 + 256) return { status: 'not-tls' };
    if (buf.length < offset + 5 + recordLength) return { status: 'incomplete' };
    const fragment = buf.subarray(offset + 5, offset + 5 + recordLength);
    parts.push(fragment);
    collected += fragment.length;
    offset += 5 + recordLength;
    if (handshakeLength < 0 && collected >= 4) {
      const head = Buffer.concat(parts);
      if (head[0] !== 0x01) return { status: 'not-tls' }; // not a ClientHello
      handshakeLength = head.readUIntBE(1, 3);
      if (handshakeLength > MAX_CLIENT_HELLO_BYTES) return { status: 'not-tls' };
    }
    if (handshakeLength >= 0 && collected >= handshakeLength + 4) break;
  }
  const hello = Buffer.concat(parts).subarray(4, handshakeLength + 4);
  try {
    return { status: 'ok', ...extensionsOf(hello) };
  } catch {
    return { status: 'not-tls' };
  }
}

function extensionsOf(hello: Buffer): { serverName: string | undefined; extensionTypes: number[] } {
  const extensionTypes: number[] = [];
  let serverName: string | undefined;
  let p = 2 + 32; // client_version, random
  const need = (n: number) => {
    if (p + n > hello.length) throw new RangeError('truncated ClientHello');
  };
  need(1);
  p += 1 + (hello[p] as number); // session_id
  need(2);
  p += 2 + hello.readUInt16BE(p); // cipher_suites
  need(1);
  p += 1 + (hello[p] as number); // compression_methods
  if (p === hello.length) return { serverName, extensionTypes }; // no extensions
  need(2);
  const end = p + 2 + hello.readUInt16BE(p);
  p += 2;
  if (end > hello.length) throw new RangeError('truncated extensions');
  while (p + 4 <= end) {
    const type = hello.readUInt16BE(p);
    const length = hello.readUInt16BE(p + 2);
    p += 4;
    if (p + length > end) throw new RangeError('truncated extension');
    // RFC 8446 §4.2: one extension of each type; two server names would let the proxy and the
    // server read different ones.
    if (extensionTypes.includes(type)) throw new RangeError('duplicate extension');
    extensionTypes.push(type);
    if (type === 0) {
      // server_name: list length, then entries of (type, length, name); host_name is type 0.
      let q = p + 2;
      const listEnd = p + 2 + hello.readUInt16BE(p);
      if (listEnd > p + length) throw new RangeError('server name list overruns its extension');
      while (q + 3 <= listEnd) {
        const nameType = hello[q] as number;
        const nameLength = hello.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLength > listEnd) throw new RangeError('truncated server name');
        if (nameType === 0) {
          serverName = hello.subarray(q, q + nameLength).toString('ascii');
          break;
        }
        q += nameLength;
      }
    }
    p += length;
  }
  return { serverName, extensionTypes };
}
