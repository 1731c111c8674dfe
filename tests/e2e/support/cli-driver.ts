// Drives the real `paddock` bin (packages/cli/bin/paddock.js) for the CLI suites: as a child process
// (stdout/stderr/exit code), or on a pseudo-terminal through a tmux server of the test's own (its own
// socket, killed at the end), read back with capture-pane. Waits are bounded in count and time.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '@paddock/testing';

export const PADDOCK_BIN = resolve(import.meta.dirname, '..', '..', '..', 'packages', 'cli', 'bin', 'paddock.js');

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs `paddock ARGS` to its end (bounded by timeoutMs), with only the given environment. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  o: { input?: string; cwd?: string; timeoutMs?: number; /** stdout so far, at each chunk (to act while it runs) */ onStdout?: (stdout: string) => void } = {},
): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [PADDOCK_BIN, ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: env['HOME'] ?? tmpdir(), ...env },
      cwd: o.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      o.onStdout?.(stdout);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`paddock ${args.join(' ')} did not end within ${o.timeoutMs ?? 120_000} ms\n${stdout}\n${stderr}`));
    }, o.timeoutMs ?? 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** One tmux server (own socket) holding one window that runs `paddock ARGS`, then prints EXIT=<code>. */
export class TmuxSession {
  readonly socket = `paddock-cli-test-${randomBytes(4).toString('hex')}`;
  private readonly dir = mkdtempSync(join(tmpdir(), 'paddock-tmux-'));

  constructor(args: string[], env: Record<string, string>, o: { cols?: number; rows?: number } = {}) {
    const script = join(this.dir, 'run.sh');
    const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
    const command = `${shellQuote(process.execPath)} ${[PADDOCK_BIN, ...args].map(shellQuote).join(' ')}`;
    // bash traps Ctrl-C (a trap, not an ignore, so paddock still receives it) to outlive it and print EXIT.
    const lines = ['#!/bin/bash', "trap 'true' INT", ...exports, command, 'echo "EXIT=$?"', 'sleep 600', ''];
    writeFileSync(script, lines.join('\n'));
    chmodSync(script, 0o700);
    this.tmux(['new-session', '-d', '-s', 'main', '-x', String(o.cols ?? 120), '-y', String(o.rows ?? 45), script]);
  }

  private tmux(args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** The screen and its scrollback, as text. */
  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-200', '-t', 'main']);
  }

  /** Waits until the screen matches; the screen is in the error when it never does. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    let last = '';
    try {
      await waitFor(
        () => {
          last = this.screen();
          return pattern.test(last);
        },
        timeoutMs,
        `the terminal to show ${pattern}`,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${last}`, { cause: err });
    }
    return last;
  }

  /** Keys as tmux names them: 'y', 'Enter', 'C-c'. */
  keys(...keys: string[]): void {
    this.tmux(['send-keys', '-t', 'main', ...keys]);
  }

  close(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { timeout: 10_000 });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
