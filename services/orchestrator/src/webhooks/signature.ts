// The signature every delivery carries: `Paddock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
// `<t>.<raw body>` with the webhook's secret (the scheme Stripe made familiar). The timestamp lets a
// receiver refuse replays older than its tolerance.
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'paddock-signature';

export function signatureHeader(secret: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `t=${timestampSec},v1=${mac}`;
}
