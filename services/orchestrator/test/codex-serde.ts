// A validator that decodes a JSONL line as Codex's `ThreadEvent` would under serde (exec_events.rs,
// 0.169.0): internally tagged enums with closed tags, unknown fields ignored, `Option`s absent or null,
// every other field required with its type. `parseCodexLine` throws, naming the path, where serde would.

type Decoder = (v: unknown, path: string) => void;

const fail = (path: string, what: string): never => {
  throw new Error(`${path}: ${what}`);
};
const str: Decoder = (v, p) => void (typeof v === 'string' || fail(p, 'expected a string'));
const bool: Decoder = (v, p) => void (typeof v === 'boolean' || fail(p, 'expected a boolean'));
const int: Decoder = (v, p) => void (Number.isInteger(v) || fail(p, 'expected an integer'));
const any: Decoder = () => {};
const oneOf =
  (...values: string[]): Decoder =>
  (v, p) =>
    void (values.includes(v as string) || fail(p, `unknown variant ${JSON.stringify(v)}, expected one of ${values.join(', ')}`));
/** `Option<T>`: absent or null is None. */
const optDecode =
  (d: Decoder): Decoder =>
  (v, p) =>
    v === undefined || v === null ? undefined : d(v, p);
const vec =
  (d: Decoder): Decoder =>
  (v, p) => {
    if (!Array.isArray(v)) fail(p, 'expected a sequence');
    (v as unknown[]).forEach((x, i) => d(x, `${p}[${i}]`));
  };
const map =
  (d: Decoder): Decoder =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(p, 'expected a map');
    for (const [k, x] of Object.entries(v as object)) d(x, `${p}.${k}`);
  };
/** A struct: each listed field decoded (an absent field is `undefined`, so only `opt` accepts it); others ignored. */
const struct =
  (fields: Record<string, Decoder>): Decoder =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(p, 'expected a struct');
    const obj = v as Record<string, unknown>;
    for (const [name, d] of Object.entries(fields)) {
      if (obj[name] === undefined && !isOptional(d)) fail(`${p}.${name}`, 'missing field');
      d(obj[name], `${p}.${name}`);
    }
  };
const optionals = new WeakSet<Decoder>();
const isOptional = (d: Decoder) => optionals.has(d);
const o = (d: Decoder): Decoder => {
  const wrapped = optDecode(d);
  optionals.add(wrapped);
  return wrapped;
};
/** `#[serde(default)]`: absent is the default value. */
const dflt = (d: Decoder): Decoder => {
  const wrapped: Decoder = (v, p) => (v === undefined ? undefined : d(v, p));
  optionals.add(wrapped);
  return wrapped;
};
/** `#[serde(tag = "type")]` with no `#[serde(other)]`: the tag is required and closed. */
const tagged =
  (variants: Record<string, Record<string, Decoder>>): Decoder =>
  (v, p) => {
    if (typeof v !== 'object' || v === null) fail(p, 'expected an internally tagged enum');
    const tag = (v as { type?: unknown }).type;
    if (typeof tag !== 'string') fail(`${p}.type`, 'missing field `type`');
    const fields = variants[tag as string];
    if (!fields) fail(`${p}.type`, `unknown variant ${JSON.stringify(tag)}, expected one of ${Object.keys(variants).join(', ')}`);
    struct(fields as Record<string, Decoder>)(v, p);
  };

const ITEM_STATUS = oneOf('in_progress', 'completed', 'failed');
const Usage = struct({ input_tokens: int, cached_input_tokens: int, output_tokens: int });
const WebSearchAction = tagged({
  search: { query: o(str), queries: o(vec(str)) },
  open_page: { url: o(str) },
  find_in_page: { url: o(str), pattern: o(str) },
  other: {},
});
const ThreadItemDetails = tagged({
  agent_message: { text: str },
  reasoning: { text: str },
  command_execution: {
    command: str,
    aggregated_output: str,
    exit_code: o(int),
    status: oneOf('in_progress', 'completed', 'failed', 'declined'),
  },
  file_change: { changes: vec(struct({ path: str, kind: oneOf('add', 'delete', 'update') })), status: ITEM_STATUS },
  mcp_tool_call: {
    server: str,
    tool: str,
    arguments: dflt(any),
    result: o(struct({ content: vec(any), structured_content: o(any) })),
    error: o(struct({ message: str })),
    status: ITEM_STATUS,
  },
  collab_tool_call: {
    tool: oneOf('spawn_agent', 'send_input', 'wait', 'close_agent'),
    sender_thread_id: str,
    receiver_thread_ids: vec(str),
    prompt: o(str),
    agents_states: map(
      struct({
        status: oneOf('pending_init', 'running', 'completed', 'errored', 'shutdown', 'not_found'),
        message: o(str),
      }),
    ),
    status: ITEM_STATUS,
  },
  web_search: { id: str, query: str, action: WebSearchAction },
  todo_list: { items: vec(struct({ text: str, completed: bool })) },
  error: { message: str },
});
/** `ThreadItem { id, #[serde(flatten)] details }`. */
const ThreadItem: Decoder = (v, p) => {
  struct({ id: str })(v, p);
  ThreadItemDetails(v, p);
};
const ThreadEvent = tagged({
  'thread.started': { thread_id: str },
  'turn.started': {},
  'turn.completed': { usage: Usage },
  'turn.failed': { error: struct({ message: str }) },
  'item.started': { item: ThreadItem },
  'item.updated': { item: ThreadItem },
  'item.completed': { item: ThreadItem },
  error: { message: str },
});

/** Decodes one line as `serde_json::from_str::<ThreadEvent>`; throws where serde would fail. */
export function parseCodexLine(line: string): { type: string; item?: { type: string } } {
  const value = JSON.parse(line) as unknown;
  ThreadEvent(value, '$');
  return value as { type: string; item?: { type: string } };
}
