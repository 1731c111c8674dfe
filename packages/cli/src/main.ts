// The `paddock` command line (commander): parses arguments, finds the API and token (config.ts), runs
// one command, and maps every failure to ONE line on stderr and an exit code: 0 done, 1 the API or the
// turn failed (wrong token included), 2 a usage error. `--help` works on every command.
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { createPaddockClient, ok, PaddockApiError, type PaddockClient } from '@paddock/sdk';
import * as cmd from './commands.ts';
import { completionScript } from './completion.ts';
import { type Connection, configPath, connection, readConfig, UsageError, writeConfig } from './config.ts';
import { configOverrides, execTurn, repositoryOption } from './exec.ts';

const USER_AGENT = 'paddock-cli/1';
const clientOf = (c: Connection): PaddockClient => createPaddockClient({ baseUrl: c.url, token: c.token, userAgent: USER_AGENT });
const connected = () => {
  const c = connection();
  return { conn: c, client: clientOf(c) };
};
const lastThread = (given: string | undefined): string => {
  const id = given ?? readConfig().last_thread;
  if (!id) throw new UsageError('give the thread id (no `paddock exec` or `run` has created one here yet)');
  return id;
};
const collect = (value: string, previous: string[] = []) => [...previous, value];
const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
};

/** The token from stdin: typed without echo on a terminal, else the whole of stdin. */
async function readToken(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return readFileSync(0, 'utf8').trim();
  process.stderr.write('paste your access token (it is not shown), then Enter: ');
  stdin.setRawMode(true);
  stdin.resume();
  let token = '';
  try {
    for await (const chunk of stdin as AsyncIterable<Buffer>) {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return token.trim();
        if (ch === '\u0003') throw new UsageError('login cancelled');
        if (ch === '\u007f') token = token.slice(0, -1);
        else token += ch;
      }
    }
    return token.trim();
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

function operatorKey(file: string | undefined): string {
  if (process.env['PADDOCK_OPERATOR_KEY']) return process.env['PADDOCK_OPERATOR_KEY'];
  const path = file ?? readConfig().operator_key_file;
  if (!path) throw new UsageError('no operator key: set PADDOCK_OPERATOR_KEY or pass --operator-key-file FILE');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read the operator key from ${path}: ${(err as Error).message}`);
  }
}

export function buildProgram(): Command {
  const program = new Command('paddock')
    .description('Run AI coding-agent tasks on a Paddock cluster (PADDOCK_URL and PADDOCK_TOKEN override the login)')
    .version('1.0.0')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError();

  program
    .command('login')
    .description('Save the API URL and an access token (read from stdin, never echoed) to the config file (mode 0600)')
    .option('--url <url>', 'the orchestrator, e.g. http://127.0.0.1:8080 (default: the saved one, or PADDOCK_URL)')
    .option('--env <environment>', 'the environment exec and run use without --env')
    .action(async (o: { url?: string; env?: string }) => {
      const url = (o.url ?? process.env['PADDOCK_URL'] ?? readConfig().url)?.replace(/\/+$/, '');
      if (!url) throw new UsageError('give --url URL (the orchestrator the token belongs to)');
      const token = await readToken();
      if (!token) throw new UsageError('no token on stdin: pipe it in (`paddock login --url URL < token.txt`) or paste it');
      const client = clientOf({ url, token });
      const me = await cmd.whoami(client); // a wrong token fails here, before anything is saved
      const environment = o.env ? await cmd.resolveEnvironment(client, o.env) : undefined;
      const path = writeConfig({ url, token, ...(environment ? { environment } : {}) });
      console.log(`logged in to ${url} as ${me.email} (${me.role} of ${me.workspace_id}); saved in ${path}`);
    });

  program
    .command('whoami')
    .description('Who the token speaks for: workspace, member, role, scopes')
    .option('--json', 'the API answer as JSON')
    .action(async (o: { json?: boolean }) => {
      const { conn, client } = connected();
      const me = await cmd.whoami(client);
      if (o.json) console.log(JSON.stringify(me, null, 2));
      else console.log(`${me.email} · ${me.role} of ${me.workspace_id} · token ${me.token_id} · ${conn.url}`);
    });

  const turnOptions = (c: Command) =>
    c
      .option('--env <environment>', 'environment name or id (default: the saved one, or the only one)')
      .option('-c, --config <key=value>', 'a config key for the thread (repeatable; dotted keys nest; JSON values)', collect, [])
      .option('--json', 'print exactly the event stream as JSONL (one event per line) and nothing else')
      .option('--repo <url[@ref]>', "clone this repository (https://, at a branch, tag or commit) into the thread's workspace first")
      .option('--repo-credential <name>', "with --repo: the cluster's named credential for its host (private repositories)");

  const runTurn = async (req: Parameters<typeof execTurn>[2], o: { env?: string; config: string[]; json?: boolean; repo?: string; repoCredential?: string; view?: string; codex?: boolean }) => {
    const { conn, client } = connected();
    const config = configOverrides(o.config);
    if (o.codex && o.view && o.view !== 'codex') throw new UsageError(`--codex and --view ${o.view} disagree: give one`);
    const view = o.codex ? 'codex' : o.view;
    if (view && !o.json) throw new UsageError(`${o.codex ? '--codex' : '--view'} needs --json (it chooses what --json prints)`);
    const repository = o.repo ? repositoryOption(o.repo, o.repoCredential) : undefined;
    if (o.repoCredential && !repository) throw new UsageError('--repo-credential needs --repo');
    const baseId = await cmd.resolveEnvironment(client, o.env ?? process.env['PADDOCK_ENV'] ?? readConfig().environment);
    // The repository is the environment's (threads take none): the base environment with it.
    const environmentId = repository ? await cmd.environmentWithRepository(client, baseId, repository) : baseId;
    const code = await execTurn(conn, client, req, {
      environmentId,
      config,
      json: o.json === true,
      ...(view ? { view } : {}),
      tty: process.stdout.isTTY === true && o.json !== true,
      columns: process.stdout.columns,
    });
    process.exitCode = code;
  };

  turnOptions(
    program
      .command('exec')
      .description('One agent task: create a thread, run the turn, stream it (exit 0 completed, 1 failed or interrupted)')
      .argument('<prompt...>', 'what the agent should do'),
  )
    .addOption(new Option('--view <view>', 'with --json: the server view of the stream').choices(['codex']))
    .option('--codex', "with --json: Codex's view of the stream (`codex exec --json` lines), live; same as --view codex")
    .action((prompt: string[], o) => runTurn({ kind: 'agent', prompt: prompt.join(' ') }, o));

  turnOptions(
    program
      .command('run')
      .description('A scripted turn: run one command in a new thread (no model), e.g. `paddock run -- make test`')
      .argument('<command...>', 'the program and its arguments (after --)'),
  )
    .action((argv: string[], o) => runTurn({ kind: 'script', argv }, o));

  program
    .command('threads')
    .description("List the workspace's threads, oldest first (--all: every page)")
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--all', 'every page')
    .option('--json', 'as JSON')
    .action(async (o: { limit?: number; all?: boolean; json?: boolean }) => cmd.threads(connected().client, { json: o.json === true, ...o }));

  program
    .command('diff')
    .description("Print the thread's changes as a unified diff (default: the last exec/run's thread)")
    .argument('[thread]', 'thread id')
    .option('--since-turn <turn>', 'only the changes after this turn')
    .action(async (thread: string | undefined, o: { sinceTurn?: string }) => {
      process.stdout.write(await cmd.threadDiff(connected().client, lastThread(thread), o.sinceTurn));
    });

  program
    .command('apply')
    .description("Apply the thread's diff to the local git work tree, like `codex cloud apply` (default: the last thread)")
    .argument('[thread]', 'thread id')
    .option('--since-turn <turn>', 'only the changes after this turn')
    .option('--check', 'only check that it applies')
    .action(async (thread: string | undefined, o: { sinceTurn?: string; check?: boolean }) =>
      cmd.apply(connected().client, lastThread(thread), o),
    );

  const files = program.command('files').description("Read and write files in a thread's workspace");
  files
    .command('get')
    .description('Download a file (to stdout, or -o FILE)')
    .argument('<thread>')
    .argument('<path>', 'path inside the workspace')
    .option('-o, --output <file>', 'write here instead of stdout')
    .action(async (thread: string, path: string, o: { output?: string }) => cmd.filesGet(connected().client, thread, path, o.output));
  files
    .command('put')
    .description('Upload a file (from FILE, or stdin)')
    .argument('<thread>')
    .argument('<path>', 'path inside the workspace')
    .argument('[file]', 'local file (default: stdin)')
    .action(async (thread: string, path: string, file?: string) => cmd.filesPut(connected().client, thread, path, file));
  files
    .command('rm')
    .description('Delete a file (-r: a directory and everything in it)')
    .argument('<thread>')
    .argument('<path>')
    .option('-r, --recursive', 'a directory and everything in it')
    .action(async (thread: string, path: string, o: { recursive?: boolean }) => cmd.filesDelete(connected().client, thread, path, o));
  files
    .command('ls')
    .description('List a directory of the workspace (default: its root)')
    .argument('<thread>')
    .argument('[path]', 'directory inside the workspace')
    .option('--json', 'the API answer as JSON')
    .action(async (thread: string, path: string | undefined, o: { json?: boolean }) =>
      cmd.filesList(connected().client, thread, path, { json: o.json === true }),
    );
  const archive = files.command('archive').description('A directory of the workspace as a tar, down or up');
  archive
    .command('get')
    .description('Download a directory as a tar (to stdout, or -o FILE)')
    .argument('<thread>')
    .argument('[path]', 'directory inside the workspace (default: its root)')
    .option('-o, --output <file>', 'write here instead of stdout')
    .action(async (thread: string, path: string | undefined, o: { output?: string }) => cmd.archiveGet(connected().client, thread, path, o.output));
  archive
    .command('put')
    .description('Unpack a tar (FILE, or stdin) into a directory of the workspace')
    .argument('<thread>')
    .argument('<file>', 'local tar file (- for stdin)')
    .option('--path <dir>', 'directory inside the workspace (default: its root)')
    .action(async (thread: string, file: string, o: { path?: string }) => cmd.archivePut(connected().client, thread, o.path, file));

  const approvals = program
    .command('approvals')
    .description('The inbox of pending approval requests across threads; answer them')
    .option('--thread <thread>', 'only this thread (repeatable)', collect, [])
    .option('--json', 'as JSON')
    .action(async (o: { thread: string[]; json?: boolean }) => cmd.approvalsInbox(connected().client, { json: o.json === true, thread: o.thread }));
  for (const [name, decision, what] of [
    ['approve', 'approve', 'Approve the request once'],
    ['approve-for-thread', 'approve_for_thread', 'Approve it and the same action for the rest of the thread'],
    ['deny', 'deny', 'Deny the request'],
  ] as const) {
    approvals
      .command(name)
      .description(what)
      .argument('<approval>', 'approval request id')
      .action(async (id: string) => cmd.decide(connected().client, id, decision));
  }

  const denials = program
    .command('denials')
    .description("A thread's recent denials (by review or by a person)")
    .argument('[thread]', 'thread id')
    .option('--json', 'as JSON')
    .action(async (thread: string | undefined, o: { json?: boolean }) => {
      if (!thread) throw new UsageError('give the thread: paddock denials THREAD');
      return cmd.denials(connected().client, thread, { json: o.json === true });
    });
  denials
    .command('approve')
    .description('Allow one retry of exactly the denied action (it is still reviewed)')
    .argument('<thread>')
    .argument('<denial>')
    .action(async (thread: string, denial: string) => cmd.approveDenial(connected().client, thread, denial));

  program
    .command('usage')
    .description("The workspace's turns and tokens per day")
    .option('--days <n>', 'how far back', positiveInt('--days'), 7)
    .option('--json', 'the API answer as JSON')
    .action(async (o: { days: number; json?: boolean }) => cmd.usage(connected().client, { json: o.json === true, days: o.days }));

  const tokens = program.command('tokens').description('Access tokens: create, list, revoke');
  tokens
    .command('create')
    .description('Create a token for yourself; its secret is printed once')
    .argument('<name>')
    .option('--expires-in-days <n>', 'lifetime (default: never expires)', positiveInt('--expires-in-days'))
    .option('--scope <scope>', 'what it may do (repeatable; default all)', collect, [])
    .option('--json', 'the API answer as JSON')
    .action(async (name: string, o: { expiresInDays?: number; scope: string[]; json?: boolean }) =>
      cmd.tokensCreate(connected().client, name, { json: o.json === true, expiresInDays: o.expiresInDays, scopes: o.scope }),
    );
  tokens
    .command('list')
    .description('Tokens you may see (never their secrets)')
    .option('--json', 'as JSON')
    .action(async (o: { json?: boolean }) => cmd.tokensList(connected().client, { json: o.json === true }));
  tokens
    .command('revoke')
    .description('Revoke a token, effective at once')
    .argument('<token>', 'token id')
    .action(async (id: string) => cmd.tokensRevoke(connected().client, id));

  const workspaces = program.command('workspaces').description('Workspaces (operator)');
  workspaces
    .command('create')
    .description('Create a workspace and its first owner with the operator key; prints the owner token once')
    .argument('<name>')
    .requiredOption('--owner <email>', 'the first owner')
    .option('--url <url>', 'the orchestrator (default: PADDOCK_URL or the saved one)')
    .option('--operator-key-file <file>', 'file holding the operator key (default: PADDOCK_OPERATOR_KEY)')
    .option('--login', "save the owner's token as this CLI's login")
    .option('--json', 'the API answer as JSON')
    .action(async (name: string, o: { owner: string; url?: string; operatorKeyFile?: string; login?: boolean; json?: boolean }) => {
      const url = (o.url ?? process.env['PADDOCK_URL'] ?? readConfig().url)?.replace(/\/+$/, '');
      if (!url) throw new UsageError('give --url URL or set PADDOCK_URL');
      const client = clientOf({ url, token: operatorKey(o.operatorKeyFile) });
      const r = await ok(client.api.POST('/v1/workspaces', { body: { name, owner_email: o.owner } }));
      if (o.login) writeConfig({ url, token: r.owner_token.secret });
      if (o.json) return console.log(JSON.stringify(r, null, 2));
      console.log(`created workspace ${r.workspace.id} (${r.workspace.name}); owner ${o.owner}'s token, shown this once:`);
      console.log(r.owner_token.secret);
      if (o.login) console.log(`saved as this CLI's login in ${configPath()}`);
    });

  program
    .command('completion')
    .description('Print a shell completion script: `source <(paddock completion bash)`')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh') => {
      process.stdout.write(completionScript(program, shell));
    });

  return program;
}

/** One line naming what to fix. */
export function errorLine(err: unknown, url: string | undefined): string {
  if (err instanceof PaddockApiError) {
    if (err.status === 401)
      return `the token was refused (${err.message}): run \`paddock login\` with a valid token, or fix PADDOCK_TOKEN`;
    if (err.status === 403) return `not allowed: ${err.message}`;
    return `${err.message}${err.field ? ` (field ${err.field})` : ''} [${err.code}]`;
  }
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TypeError' && e.message === 'fetch failed')
    return `cannot reach ${url ?? 'the API'} (${e.cause?.code ?? e.cause?.message ?? 'network error'}): is the cluster running (npm start)? check PADDOCK_URL or \`paddock login --url\``;
  return e?.message ?? String(err);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const override = (c: Command): void => {
    c.exitOverride();
    for (const sub of c.commands) override(sub);
  };
  override(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; every other commander error is a usage error (already printed).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 2;
    }
    let url: string | undefined;
    try {
      url = process.env['PADDOCK_URL'] || readConfig().url;
    } catch {
      url = undefined;
    }
    process.stderr.write(`paddock: ${errorLine(err, url)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

