// [egress_proxy]: the sandboxes' only network exit. host/port is the operator listener (health,
// and the `host` network); each sandbox network adds a listener on its gateway address.
import Type from 'typebox';
import { listen } from './listen.ts';

const ms = (def: number, description: string) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, default: def, description }));

export const EgressProxySection = Type.Object(
  {
    ...listen(3128),
    sandbox_networks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({
              minLength: 1,
              description: 'Docker network name (as in the sandbox records)',
            }),
            address: Type.String({ minLength: 1, description: "The network's gateway address to listen on" }),
          },
          { additionalProperties: false },
        ),
        { default: [], description: 'Sandbox networks the proxy listens on (same port as `port`)' },
      ),
    ),
    connect_timeout_ms: ms(10_000, 'Upstream TCP connect budget'),
    idle_timeout_ms: ms(300_000, 'A connection or tunnel idle this long is closed'),
    request_header_timeout_ms: ms(
      30_000,
      'A connection must send a complete request head this long after it opens or after its previous response; else 408 and closed',
    ),
    upstream_response_timeout_ms: ms(
      120_000,
      'Budget from forwarding a plain HTTP request to the upstream response head; else 504 upstream-timeout',
    ),
    client_hello_timeout_ms: ms(10_000, 'Budget for a tunnel client to send its TLS ClientHello'),
    review_deadline_ms: ms(30_000, 'Budget for a guardian review of a held request'),
    thread_grant_ttl_ms: ms(86_400_000, 'Lifetime of a thread-wide grant'),
    max_connections_per_sandbox: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        default: 64,
        description: 'Open client connections per sandbox',
      }),
    ),
    tls_ports: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
        default: [443],
        description:
          'CONNECT ports where the tunnel must start with a TLS ClientHello whose SNI is the target',
      }),
    ),
    allowed_private_ranges: Type.Optional(
      Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+/[0-9]{1,3}$' }), {
        default: [],
        description: 'CIDR ranges an operator allows despite being private, loopback, link-local, ...',
      }),
    ),
    hosts: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), {
        default: {},
        description: 'Static name -> addresses, consulted before DNS (tests, split horizons)',
      }),
    ),
    audit_max_pending: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 10_000,
        description: 'Unwritten decision records before new requests are refused',
      }),
    ),
  },
  { additionalProperties: false },
);
