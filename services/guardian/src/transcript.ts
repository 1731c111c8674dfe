// Compacts a thread's transcript to the review budget: the first user message (the task) always,
// then the latest items that fit; long items are cut in the middle, stating what was omitted.
// Hidden reasoning never leaves this module.
import type { TranscriptItem } from '@paddock/contracts';

export type CompactItem = { index: number; role: 'user' | 'assistant' | 'tool'; content: string };
export type CompactTranscript = {
  items: CompactItem[];
  /** Visible items left out between the first user message and the kept tail. */
  omittedItems: number;
};

export type TranscriptBudget = { maxChars: number; itemMaxChars: number };

/** Cuts `text` to at most about `maxChars`, keeping its head and tail (where commands and errors sit). */
export function truncateMiddle(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const marker = (n: number) => `\n[... ${n} characters omitted ...]\n`;
  // The marker's own length counts against the budget, so the result stays within it.
  const keep = Math.max(0, maxChars - marker(text.length).length);
  const head = Math.ceil(keep / 2);
  const tail = keep - head;
  return text.slice(0, head) + marker(text.length - keep) + (tail > 0 ? text.slice(text.length - tail) : '');
}

export function compactTranscript(
  transcript: readonly TranscriptItem[],
  budget: TranscriptBudget,
): CompactTranscript {
  const visible: CompactItem[] = [];
  transcript.forEach((item, index) => {
    if (item.role === 'reasoning') return; // hidden reasoning is never sent to the reviewer
    visible.push({ index, role: item.role, content: truncateMiddle(item.content, budget.itemMaxChars) });
  });
  const firstUser = visible.findIndex((i) => i.role === 'user');
  let remaining = budget.maxChars;
  const head: CompactItem[] = [];
  if (firstUser >= 0) {
    const item = visible[firstUser]!;
    // The task statement is kept even when it alone exceeds the budget: cut to fit.
    const content = truncateMiddle(item.content, Math.min(budget.itemMaxChars, budget.maxChars));
    head.push({ ...item, content });
    remaining -= content.length;
  }
  const tail: CompactItem[] = [];
  for (let i = visible.length - 1; i > firstUser; i--) {
    const item = visible[i]!;
    if (item.content.length > remaining) break; // stop at the first that does not fit: no gaps in the tail
    tail.push(item);
    remaining -= item.content.length;
  }
  tail.reverse();
  // Items before the first user message are dropped too (rare: a preamble from a tool).
  const omittedItems = visible.length - head.length - tail.length;
  return { items: [...head, ...tail], omittedItems };
}
