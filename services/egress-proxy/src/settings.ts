// The proxy's settings from the cluster file's [egress_proxy] section (defaults where unset).
import { type ClusterSettings, envMs } from '@paddock/config';
import { type Listener, DEFAULT_PROXY_OPTIONS, type ProxyOptions } from './proxy-server.ts';

export type EgressProxySettings = {
  options: ProxyOptions;
  /** The operator listener (health; network name `host`) and one per sandbox network. */
  listeners: Listener[];
  hosts: Record<string, string[]>;
  guardianUrl: string;
};

export function egressProxySettings(
  settings: ClusterSettings,
  env: NodeJS.ProcessEnv = process.env,
): EgressProxySettings {
  const section = settings.file.egress_proxy ?? {};
  const d = DEFAULT_PROXY_OPTIONS;
  const port = settings.egressProxy.port;
  return {
    options: {
      connectTimeoutMs: section.connect_timeout_ms ?? d.connectTimeoutMs,
      idleTimeoutMs: section.idle_timeout_ms ?? d.idleTimeoutMs,
      requestHeaderTimeoutMs: section.request_header_timeout_ms ?? d.requestHeaderTimeoutMs,
      upstreamResponseTimeoutMs: section.upstream_response_timeout_ms ?? d.upstreamResponseTimeoutMs,
      clientHelloTimeoutMs: section.client_hello_timeout_ms ?? d.clientHelloTimeoutMs,
      reviewDeadlineMs: section.review_deadline_ms ?? d.reviewDeadlineMs,
      // The worker's budget for a person's decision, so a held request and an action wait alike.
      approvalTimeoutMs: envMs(env, 'PADDOCK_APPROVAL_TIMEOUT_MS', d.approvalTimeoutMs),
      threadGrantTtlMs: section.thread_grant_ttl_ms ?? d.threadGrantTtlMs,
      maxConnectionsPerSandbox: section.max_connections_per_sandbox ?? d.maxConnectionsPerSandbox,
      tlsPorts: section.tls_ports ?? d.tlsPorts,
      allowedPrivateRanges: section.allowed_private_ranges ?? d.allowedPrivateRanges,
      auditMaxPending: section.audit_max_pending ?? d.auditMaxPending,
    },
    listeners: [
      { network: 'host', host: settings.egressProxy.host, port },
      ...(section.sandbox_networks ?? []).map((n) => ({ network: n.name, host: n.address, port })),
    ],
    hosts: section.hosts ?? {},
    guardianUrl: settings.guardian.url,
  };
}
