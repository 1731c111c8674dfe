// The network policy decision for one request, before any name is resolved: mode, deny list,
// ports, method limit, allow list. Only an allowlist miss is escalatable to a reviewer.
import type { AllowReason, RefusalReason } from '@paddock/shared/egress/reasons.ts';
import { DEFAULT_ALLOWED_PORTS, type EgressNetworkPolicy } from '@paddock/shared/egress/policy.ts';
import { compileDomains, type DomainMatcher } from './domain-match.ts';

export type CompiledPolicy = {
  mode: EgressNetworkPolicy['mode'];
  allowed: DomainMatcher;
  denied: DomainMatcher;
  ports: ReadonlySet<number>;
  /** undefined: no method limit. */
  methods: ReadonlySet<string> | undefined;
};

export function compilePolicy(policy: EgressNetworkPolicy): CompiledPolicy {
  return {
    mode: policy.mode,
    allowed: compileDomains(policy.allowed_domains ?? []),
    denied: compileDomains(policy.denied_domains ?? []),
    ports: new Set(policy.allowed_ports ?? DEFAULT_ALLOWED_PORTS),
    methods: policy.allowed_methods ? new Set(policy.allowed_methods) : undefined,
  };
}

export type PolicyRequest = {
  host: string;
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
