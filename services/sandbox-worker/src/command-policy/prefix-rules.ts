// Prefix rules (`[[rules]] pattern = ["npm", "test"], decision = "allow"`): the strictest rule whose
// pattern is a prefix of the command's argv wins (forbidden > prompt > allow). A word the shell computes
// (`null`) matches no pattern word exactly, but "could match" any: callers treat that as a review.
import type { RuleDecision } from '@paddock/config';
import type { ShellWords } from './shell-split.ts';

/** Where a rule came from: the operator's file and the workspace's requirements are not the tenant's. */
export type RuleSource = 'cluster' | 'requirements' | 'environment' | 'thread' | 'turn';
export type PrefixRule = { pattern: string[]; decision: RuleDecision; source?: RuleSource };

const STRICTNESS: Record<RuleDecision, number> = { allow: 0, prompt: 1, forbidden: 2 };

export function matchesPrefix(argv: ShellWords, pattern: readonly string[]): boolean {
  return pattern.length <= argv.length && pattern.every((part, i) => argv[i] === part);
}

/**
 * True when some values of the computed (`null`) words would make the pattern match. A computed word
 * may expand to any number of words (unquoted `$X`, a hidden script), so it may stand for the rest.
 */
export function couldMatchPrefix(argv: ShellWords, pattern: readonly string[]): boolean {
  for (const [i, part] of pattern.entries()) {
    if (i >= argv.length) return false;
    if (argv[i] === null) return true;
    if (argv[i] !== part) return false;
  }
  return true;
}

/** The strictest matching rule, or undefined when none matches. */
export function strictestRule(argv: ShellWords, rules: readonly PrefixRule[]): PrefixRule | undefined {
  let best: PrefixRule | undefined;
  for (const rule of rules) {
    if (!matchesPrefix(argv, rule.pattern)) continue;
    if (!best || STRICTNESS[rule.decision] > STRICTNESS[best.decision]) best = rule;
  }
  return best;
}

/** A tenant's rule (or one from an old record without a source) never widens the boundary on its own. */
export const isOperatorRule = (rule: PrefixRule) => rule.source === 'cluster' || rule.source === 'requirements';
