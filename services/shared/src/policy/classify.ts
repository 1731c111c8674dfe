// Classification of an action before it runs: prefix rules first, then whether it needs approval
// (escalation, untrusted command), then the approval policy: run it, reject it, or send it for review.
import type { ApprovalPolicy, ApprovalsReviewer, SandboxMode } from '../config/schema.ts';
import { type PrefixRule, strictestRule } from './prefix-rules.ts';
import { isTrustedCommand } from './trusted-commands.ts';

export type ExecRequest = {
  argv: string[];
  cwd: string;
  /** The model (or the turn's script) asks to run outside the sandbox's limits, with a reason. */
  escalate?: { justification: string; sandbox_mode?: SandboxMode; writable_roots?: string[] };
};

export type ClassifyContext = {
  sandbox_mode: SandboxMode;
  approval_policy: ApprovalPolicy;
  approvals_reviewer: ApprovalsReviewer;
  rules: PrefixRule[];
};

export type Classification =
  | { kind: 'run'; sandbox_mode: SandboxMode; reason: string }
  | { kind: 'reject'; code: 'forbidden_by_rule' | 'approval_never'; reason: string }
  | { kind: 'review'; reviewer: ApprovalsReviewer; reason: string; escalated_mode: SandboxMode | undefined };

const ruleText = (r: PrefixRule) => JSON.stringify(r.pattern);

/** Why the action needs approval, or undefined when it may run in the sandbox as it is. */
function needsApproval(req: ExecRequest, ctx: ClassifyContext): string | undefined {
  if (req.escalate && ctx.sandbox_mode !== 'danger-full-access')
    return `asks for escalated permissions: ${req.escalate.justification}`;
  if (ctx.approval_policy === 'untrusted' && !isTrustedCommand(req.argv))
    return 'not a trusted command under approval_policy "untrusted"';
  return undefined;
}

export function classifyExec(req: ExecRequest, ctx: ClassifyContext): Classification {
  const escalatedMode = req.escalate ? (req.escalate.sandbox_mode ?? 'danger-full-access') : undefined;
  const rule = strictestRule(req.argv, ctx.rules);
  if (rule?.decision === 'forbidden') {
    return { kind: 'reject', code: 'forbidden_by_rule', reason: `forbidden by rule ${ruleText(rule)}` };
  }
  if (rule?.decision === 'allow') {
    return {
      kind: 'run',
      sandbox_mode: escalatedMode ?? ctx.sandbox_mode,
      reason: `allowed by rule ${ruleText(rule)}`,
    };
  }
  const why =
    rule?.decision === 'prompt' ? `rule ${ruleText(rule)} asks for review` : needsApproval(req, ctx);
  if (why === undefined)
    return { kind: 'run', sandbox_mode: ctx.sandbox_mode, reason: 'runs inside the sandbox' };
  if (ctx.approval_policy === 'never') {
    return {
      kind: 'reject',
      code: 'approval_never',
      reason: `${why}; approval_policy "never" rejects it without review`,
    };
  }
  return { kind: 'review', reviewer: ctx.approvals_reviewer, reason: why, escalated_mode: escalatedMode };
}
