// Which client sent a request, for the usage analytics' per-client rows: the `X-Paddock-Client`
// header when it names one of CLIENTS, else the User-Agent's family (`paddock-cli/…` → cli,
// `paddock-console/…` → console, `paddock-sdk/…` → sdk), else `api`. Never trusted for anything else.
import { CLIENTS, type Client } from '@paddock/contracts';

const UA_FAMILIES: readonly [prefix: string, client: Client][] = [
  ['paddock-cli', 'cli'],
  ['paddock-console', 'console'],
  ['paddock-sdk', 'sdk'],
];

export function clientOf(headers: Record<string, string | string[] | undefined>): Client {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const named = first(headers['x-paddock-client'])?.trim().toLowerCase();
  if (named && (CLIENTS as readonly string[]).includes(named)) return named as Client;
  const ua = first(headers['user-agent'])?.trim().toLowerCase() ?? '';
  for (const [prefix, client] of UA_FAMILIES) if (ua.startsWith(prefix)) return client;
  return 'api';
}
