// The network policy decision for one request, before any name is resolved: mode, deny list,
// ports, method limit, allow list. Only an allowlist miss is escalatable to a reviewer. Where a
// list applies (mode allowlist, or any denied domain) an IP literal is refused: lists name hosts,
// and an address would step around a deny list (or an allow list's intent) unnamed.
import type { AllowReason, RefusalReason } from '@paddock/contracts';
import { DEFAULT_ALLOWED_PORTS, type EgressNetworkPolicy } from '@paddock/contracts';
import { compileDomains, type DomainMatcher } from './domain-match.ts';

export type CompiledPolicy = {
  mode: EgressNetworkPolicy['mode'];
  allowed: DomainMatcher;
  denied: DomainMatcher;
  /** Any denied domain: then IP literals are refused even in mode `full`. */
  hasDenied: boolean;
  ports: ReadonlySet<number>;
  /** undefined: no method limit. */
  methods: ReadonlySet<string> | undefined;
};

export function compilePolicy(policy: EgressNetworkPolicy): CompiledPolicy {
  return {
    mode: policy.mode,
    allowed: compileDomains(policy.allowed_domains ?? []),
    denied: compileDomains(policy.denied_domains ?? []),
    hasDenied: (policy.denied_domains ?? []).length > 0,
    ports: new Set(policy.allowed_ports ?? DEFAULT_ALLOWED_PORTS),
    methods: policy.allowed_methods ? new Set(policy.allowed_methods) : undefined,
  };
}

export type PolicyRequest = {
  host: string;
  /** The target is an IP address (already normalised: `127.1`, `2130706433`, `[::1]`). */
  isIpLiteral: boolean;
  port: number;
  /** The HTTP method for plain requests; `CONNECT` for tunnels. */
  method: string;
  kind: 'http' | 'connect';
};

export type PolicyDecision =
  | { allow: true; reason: AllowReason }
  | { allow: false; reason: RefusalReason; escalatable: boolean };

const refuse = (reason: RefusalReason, escalatable = false): PolicyDecision => ({
  allow: false,
  reason,
  escalatable,
});

export function decide(
  policy: CompiledPolicy,
  request: PolicyRequest,
  execAllowed?: DomainMatcher,
): PolicyDecision {
  if (policy.mode === 'off') return refuse('network-off');
  if (request.isIpLiteral && (policy.mode === 'allowlist' || policy.hasDenied))
    return refuse('blocked-ip-literal');
  if (policy.denied(request.host)) return refuse('blocked-by-denylist');
  if (!policy.ports.has(request.port)) return refuse('blocked-by-port');
  // A tunnel's methods are invisible to the proxy: under a method limit a CONNECT would be a
  // way around it, so the limit refuses every tunnel.
  if (policy.methods && (request.kind === 'connect' || !policy.methods.has(request.method))) {
    return refuse('blocked-by-method');
  }
  if (policy.mode === 'full' || policy.allowed(request.host))
    return { allow: true, reason: 'allowed-by-policy' };
  if (execAllowed?.(request.host)) return { allow: true, reason: 'allowed-by-exec' };
  return refuse('blocked-by-allowlist', true);
}
