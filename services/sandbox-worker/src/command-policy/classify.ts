// Classification of an action before it runs: prefix rules first, matched command by command through
// shells and wrappers (forbidden > prompt > allow; a script that cannot be split plainly is never
// allowed and never trusted), then the requirements' ceiling on sandbox modes, then whether it needs
// approval (escalation, untrusted command), then the approval policy: run, reject, or review.
import type { ApprovalPolicy, ApprovalsReviewer, SandboxMode } from '@paddock/config';
import { analyzeExec, type ExecAnalysis } from './command-unwrap.ts';
import { couldMatchPrefix, isOperatorRule, type PrefixRule, strictestRule } from './prefix-rules.ts';
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
  /** The requirements' ceiling (`allowed_sandbox_modes`); absent = unconstrained (old turn records). */
  allowed_sandbox_modes?: SandboxMode[];
};

export type RejectCode = 'forbidden_by_rule' | 'approval_never' | 'not_allowed_by_requirements';

export type Classification =
  | { kind: 'run'; sandbox_mode: SandboxMode; reason: string }
  | { kind: 'reject'; code: RejectCode; reason: string }
  | { kind: 'review'; reviewer: ApprovalsReviewer; reason: string; escalated_mode: SandboxMode | undefined };

const ruleText = (r: PrefixRule) => JSON.stringify(r.pattern);

/** What the rules say about the whole action: the strictest over every command in it. */
export type RulesVerdict =
  | { decision: 'forbidden'; rule: PrefixRule }
  | { decision: 'prompt'; reason: string }
  | { decision: 'allow'; rules: PrefixRule[] }
  | { decision: 'none' };

export function rulesVerdict(analysis: ExecAnalysis, rules: readonly PrefixRule[]): RulesVerdict {
  if (rules.length === 0) return { decision: 'none' };
  const forbidden = rules.filter((r) => r.decision === 'forbidden');
  for (const words of analysis.seen) {
    const rule = strictestRule(words, forbidden);
    if (rule) return { decision: 'forbidden', rule };
  }
  // A word computed at run time that could complete a forbidden or prompt rule: a reviewer decides.
  for (const words of analysis.seen) {
    const rule = strictestRule(words, rules.filter((r) => r.decision === 'prompt'));
    if (rule) return { decision: 'prompt', reason: `rule ${ruleText(rule)} asks for review` };
    const could = rules.find((r) => r.decision !== 'allow' && couldMatchPrefix(words, r.pattern));
    if (could) return { decision: 'prompt', reason: `a command computed at run time could match rule ${ruleText(could)}` };
  }
  if (!analysis.plain) return { decision: 'none' };
  const allowing: PrefixRule[] = [];
  for (const leaf of analysis.leaves) {
    const rule = strictestRule(leaf, rules);
    if (rule?.decision !== 'allow') return { decision: 'none' };
    allowing.push(rule);
  }
  return { decision: 'allow', rules: allowing };
}

/** Under "untrusted": every command that runs is on the trusted list or allowed by a rule. */
function allTrusted(analysis: ExecAnalysis, rules: readonly PrefixRule[]): boolean {
  return (
    analysis.plain &&
    analysis.leaves.every((leaf) => isTrustedCommand(leaf) || strictestRule(leaf, rules)?.decision === 'allow')
  );
}

export function classifyExec(req: ExecRequest, ctx: ClassifyContext): Classification {
  const escalatedMode = req.escalate ? (req.escalate.sandbox_mode ?? 'danger-full-access') : undefined;
  const analysis = analyzeExec(req.argv);
  const verdict = rulesVerdict(analysis, ctx.rules);
  if (verdict.decision === 'forbidden') {
    return { kind: 'reject', code: 'forbidden_by_rule', reason: `forbidden by rule ${ruleText(verdict.rule)}` };
  }
  const runMode = escalatedMode ?? ctx.sandbox_mode;
  if (ctx.allowed_sandbox_modes && !ctx.allowed_sandbox_modes.includes(runMode)) {
    return {
      kind: 'reject',
      code: 'not_allowed_by_requirements',
      reason: `sandbox mode "${runMode}" is not allowed by requirement allowed_sandbox_modes = ${JSON.stringify(ctx.allowed_sandbox_modes)}`,
    };
  }
  if (verdict.decision === 'allow') {
    // As Codex's execpolicy: a command every part of which an `allow` rule covers needs no approval,
    // escalation included — within the ceilings: the escalated mode passed allowed_sandbox_modes above,
    // and tenant allow rules exist only where allow_tenant_allow_rules lets them. Unlike Codex, a
    // command that did not ask for escalation stays in the sandbox (decisions.md).
    const by = verdict.rules.find((r) => !isOperatorRule(r)) ?? verdict.rules[0]!;
    return { kind: 'run', sandbox_mode: runMode, reason: `allowed by rule ${ruleText(by)}` };
  }
  const why =
    verdict.decision === 'prompt' ? verdict.reason : needsApproval(req, ctx, analysis);
  if (why === undefined) return { kind: 'run', sandbox_mode: ctx.sandbox_mode, reason: 'runs inside the sandbox' };
  return decideApproval(ctx, why, escalatedMode);
}

/** Why the action needs approval, or undefined when it may run in the sandbox as it is. */
function needsApproval(req: ExecRequest, ctx: ClassifyContext, analysis: ExecAnalysis): string | undefined {
  if (req.escalate && ctx.sandbox_mode !== 'danger-full-access')
    return `asks for escalated permissions: ${req.escalate.justification}`;
  if (ctx.approval_policy === 'untrusted' && !allTrusted(analysis, ctx.rules))
    return analysis.plain
      ? 'not a trusted command under approval_policy "untrusted"'
      : 'not a plain command (the shell computes, redirects or hides part of it) under approval_policy "untrusted"';
  return undefined;
}

function decideApproval(ctx: ClassifyContext, why: string, escalatedMode: SandboxMode | undefined): Classification {
  if (ctx.approval_policy === 'never') {
    return { kind: 'reject', code: 'approval_never', reason: `${why}; approval_policy "never" rejects it without review` };
  }
  // Codex routes only on-request (and granular) prompts to the guardian; under "untrusted" the user decides.
  const reviewer = ctx.approval_policy === 'untrusted' ? 'user' : ctx.approvals_reviewer;
  return { kind: 'review', reviewer, reason: why, escalated_mode: escalatedMode };
}

/**
 * An environment's setup script runs unreviewed, so only `forbidden` rules apply to it — strictly: a
 * command the rules forbid, or one computed at run time that could be forbidden, refuses the script.
 */
export function checkSetupScript(
  script: string,
  rules: readonly PrefixRule[],
): { ok: true } | { ok: false; code: 'forbidden_by_rule'; reason: string } {
  const forbidden = rules.filter((r) => r.decision === 'forbidden');
  const verdict = rulesVerdict(analyzeExec(['bash', '-c', script]), forbidden);
  switch (verdict.decision) {
    case 'forbidden':
      return { ok: false, code: 'forbidden_by_rule', reason: `forbidden by rule ${ruleText(verdict.rule)}` };
    case 'prompt':
      return { ok: false, code: 'forbidden_by_rule', reason: verdict.reason };
    case 'allow':
    case 'none':
      return { ok: true };
  }
}
