// The thread event stream's shapes as OpenAPI components (ThreadEvent, ThreadItem, ...), so the
// generated SDK types every SSE `data:` and JSONL line. Held equal to the contracts' TypeScript
// types at compile time (the assignments at the end fail `npm run check` when they drift).
import Type, { type Static } from 'typebox';
import type {
  CommandOutputDelta as CommandOutputDeltaContract,
  ThreadEvent as ThreadEventContract,
  ThreadItem as ThreadItemContract,
} from '@paddock/contracts';

const ref = <T extends Parameters<typeof Type.Unsafe>[0]>(name: string) =>
  Type.Unsafe<Static<T>>({ $ref: `#/components/schemas/${name}` });

export const Usage = Type.Object({
  input_tokens: Type.Integer(),
  cached_input_tokens: Type.Optional(Type.Integer()),
  output_tokens: Type.Integer(),
});

const AgentMessageItem = Type.Object({ id: Type.String(), type: Type.Literal('agent_message'), text: Type.String() });
const CommandExecutionItem = Type.Object({
  id: Type.String(),
  type: Type.Literal('command_execution'),
  command: Type.String(),
  aggregated_output: Type.String(),
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  status: Type.Union([
    Type.Literal('in_progress'),
    Type.Literal('completed'),
    Type.Literal('failed'),
    Type.Literal('declined'),
  ]),
  output_truncated: Type.Optional(Type.Boolean()),
  message: Type.Optional(Type.String({ description: 'Why the command failed beyond its exit code' })),
});
const FileChangeItem = Type.Object({
  id: Type.String(),
  type: Type.Literal('file_change'),
  changes: Type.Array(
    Type.Object({
      path: Type.String(),
      kind: Type.Union([Type.Literal('add'), Type.Literal('delete'), Type.Literal('update')]),
    }),
  ),
  status: Type.Union([Type.Literal('completed'), Type.Literal('failed')]),
});
const ErrorItem = Type.Object({ id: Type.String(), type: Type.Literal('error'), message: Type.String() });
const ApprovalRequestItem = Type.Object({
  id: Type.String(),
  type: Type.Literal('approval_request'),
  approval_id: Type.String(),
  action: Type.Unknown(),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('approved'),
    Type.Literal('denied'),
    Type.Literal('aborted'),
    Type.Literal('timed_out'),
  ]),
});
const ReviewItem = Type.Object({
  id: Type.String(),
  type: Type.Literal('review'),
  review_id: Type.String(),
  outcome: Type.String(),
  risk_level: Type.Optional(Type.String()),
  rationale: Type.String(),
});

export const ThreadItem = Type.Union(
  [AgentMessageItem, CommandExecutionItem, FileChangeItem, ErrorItem, ApprovalRequestItem, ReviewItem],
  { description: 'One item of a turn: a message, a command, file changes, an error, an approval request, a review' },
);

export const CommandOutputDelta = Type.Object(
  {
    id: Type.String(),
    type: Type.Literal('command_execution'),
    command: Type.String(),
    status: Type.Literal('in_progress'),
    output_delta: Type.String({ description: 'Output since the previous update only' }),
    output_truncated: Type.Optional(Type.Boolean()),
  },
  { description: "A running command's item.updated: only the output since its previous update" },
);

const ItemRef = ref<typeof ThreadItem>('ThreadItem');
export const ThreadEvent = Type.Union(
  [
    Type.Object({ type: Type.Literal('thread.started'), thread_id: Type.String() }),
    Type.Object({ type: Type.Literal('turn.started'), turn_id: Type.String() }),
    Type.Object({ type: Type.Literal('turn.completed'), turn_id: Type.String(), usage: ref<typeof Usage>('Usage') }),
    Type.Object({
      type: Type.Literal('turn.failed'),
      turn_id: Type.String(),
      error: Type.Object({ message: Type.String(), code: Type.Optional(Type.String()) }),
    }),
    Type.Object({
      type: Type.Union([Type.Literal('item.started'), Type.Literal('item.completed')]),
      turn_id: Type.Optional(Type.String()),
      item: ItemRef,
    }),
    Type.Object({
      type: Type.Literal('item.updated'),
      turn_id: Type.Optional(Type.String()),
      item: Type.Union([ItemRef, ref<typeof CommandOutputDelta>('CommandOutputDelta')]),
    }),
  ],
  { description: 'One event of a thread: each SSE `data:` of GET /v1/threads/{id}/events, or one JSONL line (plus its `id`)' },
);

/** The components the OpenAPI document carries for the event stream. */
export const eventStreamSchemas = { Usage, ThreadItem, CommandOutputDelta, ThreadEvent };

// Compile-time: the schemas accept exactly what the contracts say the worker writes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const itemsMatch: Same<Static<typeof ThreadItem>, ThreadItemContract> = true;
const deltaMatches: Same<Static<typeof CommandOutputDelta>, CommandOutputDeltaContract> = true;
const eventsMatch: Same<Static<typeof ThreadEvent>, ThreadEventContract> = true;
void [itemsMatch, deltaMatches, eventsMatch];
