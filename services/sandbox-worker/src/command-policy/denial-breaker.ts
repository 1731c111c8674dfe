// The per-turn denial circuit breaker: 3 consecutive denials, or 10 denials among the last 50
// reviews, end the turn. Any non-denial resets the consecutive count.
import type { ReviewOutcome } from '@paddock/contracts';

export const CONSECUTIVE_DENIALS_LIMIT = 3;
export const WINDOW_DENIALS_LIMIT = 10;
export const WINDOW_SIZE = 50;

export type BreakerState = { consecutive: number; window: boolean[] };

export class DenialBreaker {
  private consecutive = 0;
  private readonly window: boolean[] = [];

  constructor(state?: BreakerState) {
    if (state) {
      this.consecutive = state.consecutive;
      this.window.push(...state.window.slice(-WINDOW_SIZE));
    }
  }

  /** Records one review's outcome; returns why the breaker tripped, or undefined. */
  record(outcome: ReviewOutcome): string | undefined {
    const denied = outcome === 'denied';
    this.consecutive = denied ? this.consecutive + 1 : 0;
    this.window.push(denied);
    if (this.window.length > WINDOW_SIZE) this.window.shift();
    return this.tripped();
  }

  tripped(): string | undefined {
    if (this.consecutive >= CONSECUTIVE_DENIALS_LIMIT) return `${this.consecutive} consecutive denials`;
    const denials = this.window.filter(Boolean).length;
    if (denials >= WINDOW_DENIALS_LIMIT)
      return `${denials} denials among the last ${this.window.length} reviews`;
    return undefined;
  }

  /** For persisting across a worker restart. */
  state(): BreakerState {
    return { consecutive: this.consecutive, window: [...this.window] };
  }
}
