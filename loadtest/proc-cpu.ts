// CPU time a process has used so far (user + system, from /proc/<pid>/stat), for benches that
// report CPU per unit of work beside throughput: a figure that does not depend on which process of
// a saturated machine was the bottleneck.
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS_PER_S = 100;

/** CPU ms (user + system) process `pid` has used so far; NaN where unavailable. */
export function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}
