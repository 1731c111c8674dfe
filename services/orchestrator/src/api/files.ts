// Shapes of the files API (a thread's workspace): paths, the listing, upload answers, and the
// thread's sandbox view. Bodies of files and archives are raw bytes, never JSON or base64.
import Type, { type Static } from 'typebox';

export const PathQuery = Type.Object(
  { path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'Relative to the workspace root; default the root' })) },
  { additionalProperties: false },
);

export const DeleteQuery = Type.Object(
  { recursive: Type.Optional(Type.Boolean({ description: 'Delete a directory and everything in it' })) },
  { additionalProperties: false },
);

export const FileEntry = Type.Object({
  name: Type.String(),
  type: Type.Enum(['file', 'dir', 'symlink', 'other']),
  size: Type.Integer({ description: 'Bytes (lstat: a symlink is its own size)' }),
  mtime_ms: Type.Integer(),
});

export const Listing = Type.Object({ path: Type.String(), entries: Type.Array(FileEntry) });
export type Listing = Static<typeof Listing>;

export const FileWritten = Type.Object({ path: Type.String(), type: Type.Literal('file'), size: Type.Integer() });
export const ArchiveWritten = Type.Object({ path: Type.String(), entries: Type.Integer(), bytes: Type.Integer() });

export const SandboxView = Type.Object({
  state: Type.Enum(['running', 'stopped', 'none'], {
    description: 'running: a container serves the thread; stopped: only its workspace is kept; none: no workspace',
  }),
  workspace_bytes: Type.Union([Type.Integer(), Type.Null()], { description: 'Last measured size of the workspace' }),
  expires_at: Type.Union([Type.String(), Type.Null()], {
    description: 'When an idle workspace is removed if unused (ISO 8601)',
  }),
});
export type SandboxView = Static<typeof SandboxView>;
