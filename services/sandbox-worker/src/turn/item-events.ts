// Item events of one turn in the `codex exec --json` shapes: item.started / item.updated /
// item.completed. Output chunks of a running command are batched into item.updated at most once
// per `throttleMs`, so a chatty command cannot flood the thread's stream.
import { newId } from '@paddock/shared/ids.ts';
import { appendEvent, type ThreadItem } from '@paddock/shared/turns/events.ts';
import type { Redis } from 'ioredis';

export type ItemEvents = {
  started(item: ThreadItem): Promise<void>;
  updated(item: ThreadItem): Promise<void>;
  completed(item: ThreadItem): Promise<void>;
  /** A throttled live view of a command's output; `flush` before completing the item. */
  outputStream(item: Extract<ThreadItem, { type: 'command_execution' }>): {
    push: (text: string) => void;
    flush: () => Promise<void>;
  };
  newItemId(): string;
};

/** Most output kept in one item.updated (the completed item carries the exec's own capped output). */
const MAX_LIVE_OUTPUT_CHARS = 64 * 1024;

export function itemEvents(redis: Redis, threadId: string, turnId: string, throttleMs: number): ItemEvents {
  const emit = (type: 'item.started' | 'item.updated' | 'item.completed', item: ThreadItem) =>
    appendEvent(redis, threadId, { type, turn_id: turnId, item }).then(() => undefined);
  return {
    started: (item) => emit('item.started', item),
    updated: (item) => emit('item.updated', item),
    completed: (item) => emit('item.completed', item),
    newItemId: () => newId('item'),
    outputStream(item) {
      let text = '';
      let dirty = false;
      let lastSentAt = 0;
      let timer: NodeJS.Timeout | undefined;
      let sending: Promise<void> = Promise.resolve();
      const send = () => {
        timer = undefined;
        if (!dirty) return sending;
        dirty = false;
        lastSentAt = Date.now();
        const snapshot = { ...item, aggregated_output: text };
        sending = sending.then(() => emit('item.updated', snapshot)).catch(() => undefined);
        return sending;
      };
      return {
        push(chunk) {
          text = (text + chunk).slice(-MAX_LIVE_OUTPUT_CHARS);
          dirty = true;
          if (timer) return;
          const wait = Math.max(0, lastSentAt + throttleMs - Date.now());
          timer = setTimeout(() => void send(), wait);
        },
        async flush() {
          if (timer) clearTimeout(timer);
          await send();
        },
      };
    },
  };
}
