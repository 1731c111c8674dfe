// The worker's side of the exec agent: one attached `docker exec` per sandbox, JSON lines in both
// directions, many requests in flight at once, told apart by id. A session that breaks fails every
// pending request (fail closed) and is replaced on the next use.
import type { Duplex } from 'node:stream';
import { PaddockError } from '@paddock/platform';
import type Docker from 'dockerode';
import { AGENT_COMMAND } from './agent-runtime.ts';

export type AgentEvent = { id?: number; ev: string; [key: string]: unknown };

type Pending = { onEvent: (e: AgentEvent) => boolean; reject: (err: Error) => void };

const FRAME_HEADER_BYTES = 8;

export class AgentSession {
  readonly pid: number;
  /** Bytes received from the agent: proof that output caps bound what reaches the worker. */
  receivedBytes = 0;
  private readonly stream: Duplex;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken: Error | undefined;

  private constructor(stream: Duplex, pid: number) {
    this.stream = stream;
    this.pid = pid;
  }

  get alive(): boolean {
    return this.broken === undefined;
  }

  static async start(container: Docker.Container, readyTimeoutMs = 10_000): Promise<AgentSession> {
    const exec = await container.exec({
      Cmd: AGENT_COMMAND,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: '1000:1000',
      WorkingDir: '/workspace',
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
    });
    const stream = (await exec.start({ hijack: true, stdin: true })) as unknown as Duplex;
    return new Promise<AgentSession>((resolve, reject) => {
      let session: AgentSession | undefined;
      const timer = setTimeout(() => {
        stream.destroy();
        reject(
          new PaddockError('agent_unavailable', `exec agent not ready within ${readyTimeoutMs} ms`, {
            status: 503,
          }),
        );
      }, readyTimeoutMs);
      const onReady = (e: AgentEvent) => {
        clearTimeout(timer);
        session = new AgentSession(stream, Number(e['pid']));
        resolve(session);
      };
      const stderrTail: string[] = [];
      let buffered: Buffer = Buffer.alloc(0);
      let lineParts: Buffer[] = [];
      const onLine = (line: string) => {
        let event: AgentEvent;
        try {
          event = JSON.parse(line) as AgentEvent;
        } catch {
          return session?.fail(
            new PaddockError('agent_protocol', 'agent sent a line that is not JSON', { status: 502 }),
          );
        }
        if (!session) {
          if (event.ev === 'ready') onReady(event);
          return;
        }
        session.dispatch(event);
      };
      // Docker's stream framing for a non-TTY exec: 1 byte stream type, 3 zero, 4 bytes length.
      stream.on('data', (chunk: Buffer) => {
        if (session) session.receivedBytes += chunk.length;
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        while (buffered.length >= FRAME_HEADER_BYTES) {
          const size = buffered.readUInt32BE(4);
          if (buffered.length < FRAME_HEADER_BYTES + size) break;
          const type = buffered[0];
          const payload = buffered.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + size);
          buffered = buffered.subarray(FRAME_HEADER_BYTES + size);
          if (type === 2) {
            stderrTail.push(payload.toString('utf8'));
            if (stderrTail.length > 20) stderrTail.shift();
            continue;
          }
          let start = 0;
          for (let nl = payload.indexOf(10); nl !== -1; nl = payload.indexOf(10, start)) {
            // A line inside one frame (the common case) is decoded in place, without a copy.
            if (lineParts.length === 0) onLine(payload.toString('utf8', start, nl));
            else {
              lineParts.push(payload.subarray(start, nl));
              onLine(Buffer.concat(lineParts).toString('utf8'));
              lineParts = [];
            }
            start = nl + 1;
          }
          if (start < payload.length) lineParts.push(payload.subarray(start));
        }
      });
      const onEnd = () => {
        clearTimeout(timer);
        const why = new PaddockError(
          'agent_exited',
          `exec agent ended: ${stderrTail.join('').slice(-500) || 'no output'}`,
          {
            status: 502,
          },
        );
        if (session) session.fail(why);
        else reject(why);
      };
      stream.on('end', onEnd);
      stream.on('close', onEnd);
      stream.on('error', onEnd);
    });
  }

  /** Sends one request; `onEvent` sees each event for it and returns true on the final one. */
  request(
    msg: Record<string, unknown>,
    onEvent: (e: AgentEvent) => boolean,
  ): { id: number; done: Promise<void> } {
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      this.pending.set(id, {
        onEvent: (e) => {
          const final = onEvent(e);
          if (final) {
            this.pending.delete(id);
            resolve();
          }
          return final;
        },
        reject,
      });
      this.stream.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
    return { id, done };
  }

  /** One request answered by one event (files, ping); agent errors become PaddockErrors. */
  async call(msg: Record<string, unknown>): Promise<AgentEvent> {
    let answer: AgentEvent | undefined;
    await this.request(msg, (e) => {
      answer = e;
      return true;
    }).done;
    if (answer?.ev === 'error') {
      const code = String(answer['code']);
      const status = code === 'ENOENT' ? 404 : code === 'bad_path' || code === 'bad_request' ? 400 : 409;
      throw new PaddockError(code === 'ENOENT' ? 'not_found' : code, String(answer['message']), { status });
    }
    return answer!;
  }

  cancel(id: number): void {
    if (this.alive) this.stream.write(`${JSON.stringify({ op: 'cancel', id })}\n`);
  }

  close(): void {
    this.fail(new PaddockError('agent_closed', 'exec agent session closed', { status: 503 }));
  }

  private dispatch(e: AgentEvent): void {
    if (e.id === undefined) return;
    this.pending.get(e.id)?.onEvent(e);
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.stream.end();
    this.stream.destroy();
  }
}
