// What a turn's effective config means for the worker: the egress record the proxy applies, the
// classification context, the guardian's policy context (the policy layers as the guardian wants
// them), the exec mode of a command, and whether a command gets the network.
import type { EffectiveConfig } from '@paddock/config';
import { SANDBOX_MODES, type SandboxMode } from '@paddock/config';
import type { ClassifyContext } from '../command-policy/classify.ts';
import type { ExecMode, PolicyContext } from '@paddock/contracts';
import type { EgressSettings } from '../sandbox-manager.ts';

/**
 * A turn record written before tenant guidance existed: `guardian_policy` held the effective text and
 * `guardian_policy_source` the layer it came from (`requirements` for managed, else a config layer).
 */
type StoredPolicyFields = {
  guardian_policy?: string | undefined;
  guardian_policy_source?: string;
  guardian_managed_policy?: string | undefined;
  guardian_tenant_guidance?: string[];
};

/**
 * The policy layers as the guardian wants them: only the cluster file's policy replaces the default;
 * managed policy and tenant guidance are added. An old record's tenant text becomes guidance.
 */
export function policyContext(config: EffectiveConfig): PolicyContext {
  const ctx: PolicyContext = { sandbox_mode: config.sandbox_mode, approval_policy: config.approval_policy };
  const c = config as StoredPolicyFields;
  const guidance = [...(c.guardian_tenant_guidance ?? [])];
  let managed = c.guardian_managed_policy;
  if (c.guardian_policy !== undefined) {
    if (c.guardian_policy_source === 'cluster') ctx.operator_policy = c.guardian_policy;
    else if (c.guardian_policy_source === 'requirements') managed ??= c.guardian_policy;
    else guidance.push(c.guardian_policy); // an old record's environment/thread/turn policy
  }
  if (managed !== undefined && managed.trim() !== '') ctx.managed_policy = managed;
  const kept = guidance.filter((g) => g.trim() !== '');
  if (kept.length > 0) ctx.tenant_guidance = kept.slice(-8);
  return ctx;
}

/**
 * What the command policy classifies with. The ceiling on sandbox modes and each rule's source travel
 * with it; an old turn record has neither: every mode (unconstrained), and rules without a source
 * (which classify treats as a tenant's, the stricter reading).
 */
export function classifyContext(config: EffectiveConfig): ClassifyContext {
  const ctx: ClassifyContext & { allowed_sandbox_modes: SandboxMode[] } = {
    sandbox_mode: config.sandbox_mode,
    approval_policy: config.approval_policy,
    approvals_reviewer: config.approvals_reviewer,
    rules: config.rules,
    allowed_sandbox_modes: [...((config.allowed_sandbox_modes as SandboxMode[] | undefined) ?? SANDBOX_MODES)],
  };
  return ctx;
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
