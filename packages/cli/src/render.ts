// How `paddock exec`/`run` show a turn: one permanent line (or block) per finished step — commands
// with the tail of their output, reviews and their outcomes, approvals, the agent's messages — and, on
// a terminal only, a live region below them (a spinner, the running command, its output tail) redrawn
// in place. Pure output: it never calls the API; what to ask the user is exec.ts's business.
import type { ThreadEvent, ThreadItem } from '@paddock/sdk';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
export const TAIL_LINES = 5;
const MAX_LINE_CHARS = 160;

type Style = (s: string) => string;
const ansi = (open: number, close: number): Style => (s) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain: Style = (s) => s;

/** What a finished turn left behind, for the summary and the exit code. */
export type TurnOutcome = {
  status: 'completed' | 'failed';
  code?: string;
  message?: string;
  usage?: { input_tokens: number; output_tokens: number; cached_input_tokens?: number };
  commands: number;
};

const oneLine = (s: string) => (s.length > MAX_LINE_CHARS ? `${s.slice(0, MAX_LINE_CHARS - 1)}…` : s);
const cut = (s: string, width: number) => (s.length > width ? `${s.slice(0, width - 1)}…` : s);
const tailOf = (text: string, n = TAIL_LINES) => {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines[0] === '' && lines.length === 1 ? [] : lines.slice(-n);
};

/** A one-line description of an approval's action (a command, a network request, a file write). */
export function describeAction(action: unknown): string {
  const a = (action ?? {}) as Record<string, unknown>;
  if (Array.isArray(a['argv'])) return `run: ${(a['argv'] as string[]).join(' ')}`;
  if (typeof a['command'] === 'string') return `run: ${a['command']}`;
  if (Array.isArray(a['command'])) return `run: ${(a['command'] as string[]).join(' ')}`;
  if (typeof a['host'] === 'string') return `network: ${String(a['method'] ?? 'CONNECT')} ${a['host']}${a['port'] ? `:${a['port']}` : ''}`;
  if (typeof a['url'] === 'string') return `network: ${a['url']}`;
  return oneLine(JSON.stringify(action));
}

export class TurnRenderer {
  private readonly write: (s: string) => void;
  private readonly tty: boolean;
  private readonly s: { dim: Style; bold: Style; red: Style; green: Style; yellow: Style; cyan: Style };
  private liveLines = 0;
  private frame = 0;
  private running: { command: string; output: string } | undefined;
  private waiting = 'thinking';
  private timer: ReturnType<typeof setInterval> | undefined;
  private paused = false;
  /** Live lines are cut to the terminal's width, so each takes one row and the redraw stays exact. */
  private readonly liveWidth: number;
  commands = 0;

  constructor(o: { write: (s: string) => void; tty: boolean; color?: boolean; columns?: number }) {
    this.write = o.write;
    this.tty = o.tty;
    this.liveWidth = Math.max(20, (o.columns ?? 120) - 6);
    const c = o.color ?? o.tty;
    this.s = {
      dim: c ? ansi(2, 22) : plain,
      bold: c ? ansi(1, 22) : plain,
      red: c ? ansi(31, 39) : plain,
      green: c ? ansi(32, 39) : plain,
      yellow: c ? ansi(33, 39) : plain,
      cyan: c ? ansi(36, 39) : plain,
    };
  }

  /** Starts the spinner (terminal only). */
  start(): void {
    if (!this.tty || this.timer) return;
    this.timer = setInterval(() => {
      this.frame++;
      this.redraw();
    }, 100);
    this.timer.unref();
    this.redraw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearLive();
  }

  /** Stops drawing the live region while the user answers a prompt. */
  pause(): void {
    this.paused = true;
    this.clearLive();
  }

  resume(): void {
    this.paused = false;
    this.redraw();
  }

  /** Prints permanent lines above the live region. */
  line(text: string): void {
    this.clearLive();
    this.write(`${text}\n`);
    this.redraw();
  }

  private clearLive(): void {
    if (!this.tty || this.liveLines === 0) return;
    // Up to the first live line, then erase to the end of the screen.
    // (no cursor-up for a one-line region: `ESC[0A` moves one line up in most terminals)
    this.write(`\r${this.liveLines > 1 ? `\x1b[${this.liveLines - 1}A` : ''}\x1b[J`);
    this.liveLines = 0;
  }

  private redraw(): void {
    if (!this.tty || this.paused) return;
    this.clearLive();
    const spin = this.s.cyan(SPINNER[this.frame % SPINNER.length]!);
    const lines = this.running
      ? [
          `${spin} running ${this.s.bold(`$ ${cut(this.running.command, this.liveWidth - 10)}`)}`,
          ...tailOf(this.running.output).map((l) => this.s.dim(`  │ ${cut(l, this.liveWidth - 4)}`)),
        ]
      : [`${spin} ${this.s.dim(`${this.waiting}…`)}`];
    this.write(lines.join('\n'));
    this.liveLines = lines.length;
  }

  /** Renders one event; returns the turn's outcome when the event ends the turn. */
  event(e: ThreadEvent): TurnOutcome | undefined {
    switch (e.type) {
      case 'thread.started':
        return undefined;
      case 'turn.started':
        this.waiting = 'thinking';
        this.redraw();
        return undefined;
      case 'item.started':
        this.itemStarted(e.item);
        return undefined;
      case 'item.updated':
        if (e.item.type === 'command_execution' && 'output_delta' in e.item) {
          if (!this.running) this.running = { command: e.item.command, output: '' };
          // Keep only what the tail can show: a long-running command's output is not held whole.
          this.running.output = tailOf(this.running.output + e.item.output_delta, TAIL_LINES + 1).join('\n');
          this.redraw();
        }
        return undefined;
      case 'item.completed':
        this.itemCompleted(e.item);
        return undefined;
      case 'turn.completed':
        return { status: 'completed', usage: e.usage, commands: this.commands };
      case 'turn.failed':
        return { status: 'failed', code: e.error.code, message: e.error.message, commands: this.commands };
    }
  }

  private itemStarted(item: ThreadItem): void {
    switch (item.type) {
      case 'command_execution':
        this.running = { command: item.command, output: '' };
        if (!this.tty) this.line(`$ ${item.command}`);
        else this.redraw();
        return;
      case 'approval_request':
        this.waiting = 'waiting for approval';
        return; // exec.ts asks (or says how to answer) when it sees this
      default:
        return;
    }
  }

  private itemCompleted(item: ThreadItem): void {
    const { dim, bold, red, green, yellow } = this.s;
    switch (item.type) {
      case 'command_execution': {
        this.commands++;
        this.running = undefined;
        this.waiting = 'thinking';
        const mark =
          item.status === 'completed' ? green('✓') : item.status === 'declined' ? yellow('⊘') : red('✗');
        const how = item.status === 'declined' ? 'declined' : item.exit_code === null ? item.status : `exit ${item.exit_code}`;
        const tail = tailOf(item.aggregated_output).map((l) => dim(`  │ ${oneLine(l)}`));
        const more = item.output_truncated ? [dim('  │ (output truncated)')] : [];
        const why = item.message ? [red(`  ${item.message}`)] : [];
        this.line([`${mark} ${bold(`$ ${oneLine(item.command)}`)} ${dim(`(${how})`)}`, ...tail, ...more, ...why].join('\n'));
        return;
      }
      case 'review': {
        const allowed = /^allow/.test(item.outcome);
        const risk = item.risk_level ? ` ${dim(`risk ${item.risk_level}`)}` : '';
        this.line(`${allowed ? green('◆') : red('◆')} review ${allowed ? green(item.outcome) : red(item.outcome)}${risk}: ${oneLine(item.rationale)}`);
        return;
      }
      case 'approval_request': {
        this.waiting = 'thinking';
        const ok = item.status === 'approved';
        this.line(`${ok ? green('✓') : red('✗')} approval ${item.status}: ${describeAction(item.action)}`);
        return;
      }
      case 'agent_message':
        this.line(`${this.s.cyan('»')} ${item.text}`);
        return;
      case 'file_change':
        this.line(item.changes.map((c) => `${yellow('✎')} ${c.kind} ${c.path}`).join('\n'));
        return;
      case 'error':
        this.line(red(`! ${item.message}`));
        return;
    }
  }

  /** The closing block: outcome, usage, and the changed files (from the thread's diff, when known). */
  summary(o: TurnOutcome, changedFiles: string[] | undefined): void {
    const { bold, red, green, dim } = this.s;
    this.stop();
    const usage = o.usage ? ` · ${o.usage.input_tokens} in / ${o.usage.output_tokens} out tokens` : '';
    const head =
      o.status === 'completed'
        ? green(bold('✓ turn completed'))
        : red(bold(`✗ turn ${o.code === 'interrupted' ? 'interrupted' : 'failed'}`)) + (o.message ? red(`: ${o.message}`) : '');
    const lines = [`${head}${dim(`${usage} · ${o.commands} command${o.commands === 1 ? '' : 's'}`)}`];
    if (changedFiles === undefined) lines.push(dim('changed files: unknown (the server has no diff route)'));
    else if (changedFiles.length === 0) lines.push(dim('changed files: none'));
    else lines.push(`changed files (${changedFiles.length}):`, ...changedFiles.map((f) => `  ${f}`));
    this.write(`${lines.join('\n')}\n`);
  }
}

/** `M path` / `A path` / `D path` lines from a unified diff (git's `diff --git` headers). */
export function changedFilesOf(diff: string): string[] {
  const out: string[] = [];
  let current: { path: string; kind: string } | undefined;
  const flush = () => current && out.push(`${current.kind} ${current.path}`);
  for (const line of diff.split('\n')) {
    const header = /^diff --git a\/(.+) b\/(.+)$/.exec(line);
    if (header) {
      flush();
      current = { path: header[2]!, kind: 'M' };
    } else if (current && line.startsWith('new file mode')) current.kind = 'A';
    else if (current && line.startsWith('deleted file mode')) current.kind = 'D';
    else if (current && line.startsWith('rename to ')) current = { path: line.slice('rename to '.length), kind: 'R' };
  }
  flush();
  return out;
}
