// The proxy's settings from the cluster file's [egress_proxy] section, with the schema's defaults.
import {
  type ClusterSettings,
  EgressProxySection,
  envMs,
  SANDBOX_WORKER_UNSET,
  SandboxWorkerSection,
  type WithDefaults,
  withDefaults,
} from '@paddock/config';
import type { Static } from 'typebox';
import type { Listener, ProxyOptions } from './proxy-server.ts';

/** The operator listener's network name (health, metrics); every other listener is a sandbox network's. */
export const OPERATOR_NETWORK = 'host';

type EgressProxySectionValues = WithDefaults<Static<typeof EgressProxySection>>;

export type EgressProxySettings = {
  options: ProxyOptions;
  /** The operator listener (health; network name `host`) and one per sandbox network. */
  listeners: Listener[];
  hosts: Record<string, string[]>;
  guardianUrl: string;
};

/** The proxy's options from [egress_proxy] (defaults applied) and the worker's approval budget. */
export function proxyOptions(section: EgressProxySectionValues, approvalTimeoutMs: number): ProxyOptions {
  return {
    connectTimeoutMs: section.connect_timeout_ms,
    idleTimeoutMs: section.idle_timeout_ms,
    requestHeaderTimeoutMs: section.request_header_timeout_ms,
    upstreamResponseTimeoutMs: section.upstream_response_timeout_ms,
    clientHelloTimeoutMs: section.client_hello_timeout_ms,
    reviewDeadlineMs: section.review_deadline_ms,
    approvalTimeoutMs,
    threadGrantTtlMs: section.thread_grant_ttl_ms,
    maxConnectionsPerSandbox: section.max_connections_per_sandbox,
    tlsPorts: section.tls_ports,
    allowedPrivateRanges: section.allowed_private_ranges,
    auditMaxPending: section.audit_max_pending,
  };
}

export function egressProxySettings(
  settings: ClusterSettings,
  env: NodeJS.ProcessEnv = process.env,
): EgressProxySettings {
  const section = withDefaults(EgressProxySection, settings.file.egress_proxy);
  const worker = withDefaults(SandboxWorkerSection, settings.file.sandbox_worker, SANDBOX_WORKER_UNSET);
  const port = settings.egressProxy.port;
  return {
    // The worker's budget for a person's decision, so a held request and an action wait alike.
    options: proxyOptions(section, envMs(env, 'PADDOCK_APPROVAL_TIMEOUT_MS', worker.approval_timeout_ms)),
    listeners: [
      { network: OPERATOR_NETWORK, host: settings.egressProxy.host, port },
      ...section.sandbox_networks.map((n) => ({ network: n.name, host: n.address, port })),
    ],
    hosts: section.hosts,
    guardianUrl: settings.guardian.url,
  };
}
