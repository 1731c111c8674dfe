// What the model is told when an action does not run: the reason, and for a denial the instruction
// not to reach the same outcome another way. A timeout or failure is not presented as a denial.
import type { Verdict } from '@paddock/contracts';

export function reviewMessage(
  verdict: Pick<Verdict, 'outcome' | 'rationale' | 'risk_level' | 'reason'>,
): string {
  switch (verdict.outcome) {
    case 'approved':
      return `Approved by review (risk ${verdict.risk_level}): ${verdict.rationale}`;
    case 'denied':
      return (
        `Denied by review (risk ${verdict.risk_level}): ${verdict.rationale}\n` +
        'Do not pursue the same outcome through a workaround (another command, tool, path or encoding). ' +
        'Continue with other work, or explain to the user what you need and why.'
      );
    case 'timed_out':
      return (
        'The review of this action timed out, so it did not run. A timeout is not proof the action is unsafe; ' +
        'you may retry later or ask the user.'
      );
    case 'failed':
      return `The review of this action could not be completed (${verdict.reason ?? 'review failed'}), so it did not run. This is not a denial.`;
    case 'aborted':
      return 'The review of this action was aborted, so it did not run.';
  }
}

export function rejectionMessage(reason: string): string {
  return `This action was rejected by policy and did not run: ${reason}. Do not try to work around this restriction.`;
}
