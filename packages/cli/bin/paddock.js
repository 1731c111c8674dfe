#!/usr/bin/env node
// The `paddock` command. Plain JavaScript so any Node can start it: the CLI itself is TypeScript run
// by type stripping (Node >= 24); on an older Node this re-executes with the repository's Node 24
// (the `node` devDependency), passing arguments, stdio, exit code and signals through unchanged.
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(realpathSync(fileURLToPath(import.meta.url)));
const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  const { main } = await import(join(here, '..', 'src', 'main.ts'));
  process.exit(await main(process.argv.slice(2)));
} else {
  // Walk up to the node_modules that holds the `node` package's binary.
  let dir = here;
  let node;
  for (let i = 0; i < 8 && !node; i++) {
    const candidate = join(dir, 'node_modules', 'node', 'bin', 'node');
    if (existsSync(candidate)) node = candidate;
    dir = dirname(dir);
  }
  if (!node) {
    console.error(`paddock needs Node >= 24 (this is ${process.version}); run \`npm ci\` in the repository, or install Node 24`);
    process.exit(2);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // The child shares the terminal, so Ctrl-C reaches it directly; forward what a parent sends us.
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  process.on('SIGINT', () => {}); // the child handles Ctrl-C (it interrupts the turn)
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
