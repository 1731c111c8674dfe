// `npm start` on a terminal: each service's pino JSON line as one human line — time, service (in its
// own colour), level, message, then the other fields as key=value. A line that is not JSON passes
// through with the service prefix. Hand-written (a dozen lines) rather than pino-pretty, because the
// prefix and colour are per child process and pino-pretty formats one stream's own records.
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SERVICE_COLOURS: Record<string, number> = { orchestrator: 36, 'sandbox-worker': 35, 'egress-proxy': 33, guardian: 32, redis: 34 };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'service']);

export function prettyLogLine(service: string, line: string, colour: boolean): string {
  const paint = (code: number, s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const who = paint(SERVICE_COLOURS[service] ?? 37, service.padEnd(14));
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
    if (typeof rec !== 'object' || rec === null) throw new Error('not a record');
  } catch {
    return `${who} ${line}`;
  }
  const levelNo = typeof rec['level'] === 'number' ? rec['level'] : 30;
  const level = (LEVELS[levelNo] ?? String(levelNo)).padEnd(5);
  const at = typeof rec['time'] === 'number' ? new Date(rec['time']).toISOString().slice(11, 19) : '--:--:--';
  const fields = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const lvl = levelNo >= 50 ? paint(31, level) : levelNo >= 40 ? paint(33, level) : paint(2, level);
  return `${paint(2, at)} ${who} ${lvl} ${String(rec['msg'] ?? '')}${fields ? ` ${paint(2, fields)}` : ''}`;
}
