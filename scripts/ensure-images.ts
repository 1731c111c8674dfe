// Builds the sandbox images that are absent (content-hash tags: unchanged inputs are never rebuilt).
import { ensureSandboxImage } from '@paddock/platform';
import Docker from 'dockerode';

const tag = await ensureSandboxImage(new Docker(), 'base', (line) => console.error(`[images] ${line}`));
console.error(`[images] sandbox image ready: ${tag}`);
