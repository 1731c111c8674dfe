// Where the built console lives, for the orchestrator to serve at /console. Built by `npm ci`
// (the root postinstall runs `vite build`); `consoleBuilt()` says whether the build is there.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const consoleAssetsDir = fileURLToPath(new URL('../dist/', import.meta.url));
export const consoleBuilt = (): boolean => existsSync(`${consoleAssetsDir}index.html`);
