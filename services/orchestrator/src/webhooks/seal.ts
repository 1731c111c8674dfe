// Webhook signing secrets at rest: the cluster must sign with them, so they cannot be hashed; they are
// sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the operator key, so a Redis dump or a
// replica alone does not give them away. Without an operator key, webhooks cannot be created.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const INFO = 'paddock webhook signing secrets v1';

export type Sealer = { seal(plain: string): string; open(sealed: string): string };

export function webhookSealer(operatorKey: string): Sealer {
  const key = Buffer.from(hkdfSync('sha256', operatorKey, 'paddock-webhooks', INFO, 32));
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
    },
    open(sealed) {
      const [v, iv, tag, body] = sealed.split('.');
      if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown sealed secret format');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
