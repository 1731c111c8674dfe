// Prefix rules (`[[rules]] pattern = ["npm", "test"], decision = "allow"`): the strictest rule whose
// pattern is a prefix of the command's argv wins (forbidden > prompt > allow).
import type { RuleDecision } from '../config/schema.ts';

export type PrefixRule = { pattern: string[]; decision: RuleDecision };

const STRICTNESS: Record<RuleDecision, number> = { allow: 0, prompt: 1, forbidden: 2 };

export function matchesPrefix(argv: readonly string[], pattern: readonly string[]): boolean {
  return pattern.length <= argv.length && pattern.every((part, i) => argv[i] === part);
}

/** The strictest matching rule, or undefined when none matches. */
export function strictestRule(argv: readonly string[], rules: readonly PrefixRule[]): PrefixRule | undefined {
  let best: PrefixRule | undefined;
  for (const rule of rules) {
    if (!matchesPrefix(argv, rule.pattern)) continue;
    if (!best || STRICTNESS[rule.decision] > STRICTNESS[best.decision]) best = rule;
  }
  return best;
}
