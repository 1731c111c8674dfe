// HTTP schemas of a thread's changes: the diff query (base, or since a turn's start).
import Type, { type Static } from 'typebox';

export const DiffQuery = Type.Object(
  {
    since_turn: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: "One of the thread's last turns: the diff against that turn's start" }),
    ),
  },
  { additionalProperties: false },
);
export type DiffQuery = Static<typeof DiffQuery>;

export const DiffText = Type.String({
  description:
    'A unified diff (git apply applies it to a clone of the base commit). Binary files and files over the size cap are named (`Binary files … differ`)',
});
