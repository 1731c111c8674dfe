// What a turn's effective config means for the worker: the egress record the proxy applies, the
// classification context, the guardian's policy context (the policy layers as the guardian wants
// them), the exec mode of a command, and whether a command gets the network.
import type { EffectiveConfig } from '@paddock/shared/config/resolve.ts';
import type { SandboxMode } from '@paddock/shared/config/schema.ts';
import type { ClassifyContext } from '@paddock/shared/policy/classify.ts';
import type { PolicyContext } from '@paddock/shared/review/contract.ts';
import type { ExecMode } from '@paddock/shared/sandbox/exec.ts';
import type { EgressSettings } from '../sandbox-manager.ts';

export function policyContext(config: EffectiveConfig): PolicyContext {
  const ctx: PolicyContext = { sandbox_mode: config.sandbox_mode, approval_policy: config.approval_policy };
  if (config.guardian_policy === undefined) return ctx;
  // The effective text, and the layer it came from: managed (requirements) or the thread's own.
  ctx.guardian_policy = config.guardian_policy;
  if (config.guardian_policy_source === 'requirements') ctx.managed_policy = config.guardian_policy;
  else ctx.auto_review_policy = config.guardian_policy;
  return ctx;
}

export function classifyContext(config: EffectiveConfig): ClassifyContext {
  return {
    sandbox_mode: config.sandbox_mode,
    approval_policy: config.approval_policy,
    approvals_reviewer: config.approvals_reviewer,
    rules: config.rules,
    ...(config.allowed_sandbox_modes ? { allowed_sandbox_modes: config.allowed_sandbox_modes } : {}),
  };
}

/**
 * An allowlist miss is a network request the policy blocks: it needs approval, so the proxy holds it
 * for the thread's reviewer (the guardian, or a person), unless `approval_policy = "never"` rejects it.
 */
export function egressSettings(config: EffectiveConfig): EgressSettings {
  const n = config.network;
  return {
    policy: {
      mode: n.mode,
      allowed_domains: n.allowed_domains,
      denied_domains: n.denied_domains,
      allowed_ports: n.allowed_ports,
      ...(n.allowed_methods ? { allowed_methods: n.allowed_methods as EgressSettings['policy']['allowed_methods'] } : {}),
    },
    escalation:
      config.approval_policy === 'never' ? 'none' : config.approvals_reviewer === 'auto_review' ? 'guardian' : 'user',
    grant_scope: 'once',
    policy_context: policyContext(config),
  };
}

export function execMode(mode: SandboxMode): ExecMode {
  switch (mode) {
    case 'read-only':
      return 'read-only';
    case 'workspace-write':
      return 'workspace-write';
    case 'danger-full-access':
      return 'escalated';
  }
}

/** A command reaches the proxy (which applies the policy) unless the thread's network is off. */
export function execNetwork(config: EffectiveConfig, escalated: boolean): boolean {
  return escalated || config.network.mode !== 'off' || config.sandbox_workspace_write.network_access;
}
