// Codex's `apply_patch` format, parsed and applied as pure functions (no file system): the
// `*** Begin Patch` envelope with Add File / Delete File / Update File (optionally `*** Move to:`)
// and `@@` hunks of context/-/+ lines. A hunk's old lines are found in order in the file (exact,
// then ignoring trailing, then surrounding whitespace, as Codex does); a hunk not found fails the patch.

export type Hunk = {
  /** The `@@ <context>` line: the hunk is searched after the first line equal to it. */
  context?: string;
  oldLines: string[];
  newLines: string[];
  /** `*** End of File`: the hunk's old lines end the file. */
  endOfFile: boolean;
};

export type PatchOp =
  | { kind: 'add'; path: string; content: string }
  | { kind: 'delete'; path: string }
  | { kind: 'update'; path: string; moveTo?: string; hunks: Hunk[] };

export class PatchError extends Error {
  override name = 'PatchError';
}

const BEGIN = '*** Begin Patch';
const END = '*** End Patch';
const ADD = '*** Add File: ';
const DELETE = '*** Delete File: ';
const UPDATE = '*** Update File: ';
const MOVE = '*** Move to: ';
const EOF_MARK = '*** End of File';

/** Ops of a patch text; a malformed patch is a PatchError naming the line. */
export function parsePatch(text: string): PatchOp[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  // Tolerate a heredoc-style wrapper's blank edges.
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  if (lines[0]?.trim() !== BEGIN) throw new PatchError(`the first line must be "${BEGIN}"`);
  if (lines[lines.length - 1]?.trim() !== END) throw new PatchError(`the last line must be "${END}"`);
  const body = lines.slice(1, -1);
  const ops: PatchOp[] = [];
  let i = 0;
  const lineNo = () => i + 2;
  while (i < body.length) {
    const line = body[i]!;
    if (line.startsWith(ADD)) {
      const path = checkPath(line.slice(ADD.length), lineNo());
      i++;
      const content: string[] = [];
      while (i < body.length && body[i]!.startsWith('+')) content.push(body[i++]!.slice(1));
      ops.push({ kind: 'add', path, content: content.length > 0 ? `${content.join('\n')}\n` : '' });
    } else if (line.startsWith(DELETE)) {
      ops.push({ kind: 'delete', path: checkPath(line.slice(DELETE.length), lineNo()) });
      i++;
    } else if (line.startsWith(UPDATE)) {
      const path = checkPath(line.slice(UPDATE.length), lineNo());
      i++;
      let moveTo: string | undefined;
      if (body[i]?.startsWith(MOVE)) moveTo = checkPath(body[i++]!.slice(MOVE.length), lineNo());
      const hunks: Hunk[] = [];
      while (i < body.length && !body[i]!.startsWith('*** ')) {
        const header = body[i]!;
        let context: string | undefined;
        if (header === '@@' || header.startsWith('@@ ')) {
          context = header === '@@' ? undefined : header.slice(3);
          i++;
        } else if (hunks.length > 0) {
          throw new PatchError(`line ${lineNo()}: expected "@@" to start the next hunk`);
        }
        const hunk: Hunk = { ...(context !== undefined && context !== '' ? { context } : {}), oldLines: [], newLines: [], endOfFile: false };
        while (i < body.length) {
          const l = body[i]!;
          if (l === EOF_MARK) {
            hunk.endOfFile = true;
            i++;
            break;
          }
          if (l.startsWith('@@') || l.startsWith('*** ')) break;
          const tag = l[0];
          const rest = l.slice(1);
          if (tag === ' ' || l === '') {
            hunk.oldLines.push(rest);
            hunk.newLines.push(rest);
          } else if (tag === '-') hunk.oldLines.push(rest);
          else if (tag === '+') hunk.newLines.push(rest);
          else throw new PatchError(`line ${lineNo()}: a hunk line must start with " ", "-" or "+"`);
          i++;
        }
        if (hunk.oldLines.length === 0 && hunk.newLines.length === 0)
          throw new PatchError(`line ${lineNo()}: an empty hunk in ${path}`);
        hunks.push(hunk);
      }
      if (hunks.length === 0 && moveTo === undefined) throw new PatchError(`${path}: an update with no hunks`);
      ops.push({ kind: 'update', path, ...(moveTo !== undefined ? { moveTo } : {}), hunks });
    } else if (line.trim() === '') {
      i++;
    } else {
      throw new PatchError(`line ${lineNo()}: expected "*** Add File:", "*** Delete File:" or "*** Update File:"`);
    }
  }
  if (ops.length === 0) throw new PatchError('the patch changes no file');
  return ops;
}

function checkPath(raw: string, line: number): string {
  const path = raw.trim();
  if (path === '') throw new PatchError(`line ${line}: a file path is missing`);
  if (path.includes('\0')) throw new PatchError(`line ${line}: a file path has a NUL byte`);
  return path;
}

/** Where `needle` first occurs in `hay` at or after `from`: exact, then trimEnd, then trim. */
function seek(hay: string[], needle: string[], from: number, atEnd: boolean): number {
  if (needle.length === 0) return atEnd ? hay.length : from;
  const norms = [(s: string) => s, (s: string) => s.trimEnd(), (s: string) => s.trim()];
  for (const norm of norms) {
    const want = needle.map(norm);
    const starts = atEnd ? [hay.length - needle.length] : range(from, hay.length - needle.length);
    for (const start of starts) {
      if (start < from) continue;
      if (want.every((w, k) => norm(hay[start + k]!) === w)) return start;
    }
  }
  return -1;
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);

/** The file's new content after the update's hunks; a hunk whose lines are not found fails. */
export function applyHunks(content: string, hunks: Hunk[], path: string): string {
  const endsWithNewline = content.endsWith('\n');
  const lines = content === '' ? [] : (endsWithNewline ? content.slice(0, -1) : content).split('\n');
  const out = [...lines];
  let cursor = 0;
  // Applied in order; each search starts after the previous hunk's replacement.
  for (const [n, h] of hunks.entries()) {
    if (h.context !== undefined) {
      const at = seek(out, [h.context], cursor, false);
      if (at < 0) throw new PatchError(`${path}: hunk ${n + 1}: the context line "${h.context}" is not in the file`);
      cursor = at + 1;
    }
    const at = seek(out, h.oldLines, cursor, h.endOfFile);
    if (at < 0) throw new PatchError(`${path}: hunk ${n + 1}: its lines are not in the file (was it changed?)`);
    out.splice(at, h.oldLines.length, ...h.newLines);
    cursor = at + h.newLines.length;
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** Every path a patch writes (its sources, and the target of a move). */
export function pathsOf(ops: PatchOp[]): string[] {
  return [...new Set(ops.flatMap((op) => (op.kind === 'update' && op.moveTo ? [op.path, op.moveTo] : [op.path])))];
}
