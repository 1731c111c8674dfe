// How an exec's mode becomes the Landlock launcher's arguments: the one place that says what
// each mode may write. Pure, so it is unit-tested without a container.
import type { ExecMode } from '@paddock/contracts';

export const WORKSPACE_DIR = '/workspace';
export const HOME_DIR = '/home/sandbox';
/** Devices every mode may write (discarding output is not a write to anything). */
const ALWAYS_WRITABLE = ['/dev/null', '/dev/zero', '/dev/full', '/dev/tty'];

export function launcherArgs(
  mode: ExecMode,
  opts: { writableRoots?: string[]; network?: boolean },
): string[] {
  const args: string[] = [];
  const rw = (paths: string[]) => {
    for (const p of paths) args.push('--rw', p);
  };
  switch (mode) {
    case 'read-only':
      args.push('--fs-restrict');
      rw(ALWAYS_WRITABLE);
      break;
    case 'workspace-write':
      args.push('--fs-restrict');
      rw([...ALWAYS_WRITABLE, WORKSPACE_DIR, '/tmp', ...(opts.writableRoots ?? [])]);
      break;
    case 'escalated':
      break; // every writable mount of the container: the read-only root filesystem still holds
    default: {
      const never: never = mode;
      throw new Error(`unknown mode ${String(never)}`);
    }
  }
  if (!opts.network) args.push('--no-net');
  return args;
}
