export function dockerAnswers(dockerCli?: string): boolean;
export function ensureDockerEngine(opts?: {
  log?: (line: string) => void;
  timeoutMs?: number;
}): Promise<'running' | 'started'>;
