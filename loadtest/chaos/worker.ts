// A sandbox worker in its own process for the chaos suite (so it can be SIGKILLed or SIGTERMed):
// the options in WORKER_OPTIONS (JSON), "ready <workerId>" on stdout; on SIGTERM it drains as
// main.ts does, within SHUTDOWN_GRACE_MS (the one shutdown budget), and exits.
import { closeOnSignals, createLogger, shutdownBudget } from '@paddock/platform';
import { ensureDocker } from '@paddock/testing';
import { startWorker, type WorkerOptions } from '@paddock/sandbox-worker';

const raw = process.env['WORKER_OPTIONS'];
if (!raw) throw new Error('WORKER_OPTIONS is required');
const options = JSON.parse(raw) as Omit<WorkerOptions, 'docker' | 'logger'>;
const logger = createLogger('chaos-worker', process.env['WORKER_LOG_LEVEL'] ?? 'warn');
const worker = await startWorker({ ...options, docker: await ensureDocker(), logger });
const budget = shutdownBudget(Number(process.env['SHUTDOWN_GRACE_MS'] ?? 8000));
closeOnSignals(logger, [{ name: 'worker', close: () => worker.close(budget.drainMs) }], budget.deadlineMs);
process.stdout.write(`ready ${worker.workerId}\n`);
setInterval(() => {}, 60_000);
