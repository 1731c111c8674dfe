// Readiness: the guardian is not ready while its model endpoint is unreachable. Any HTTP answer from
// the endpoint counts as reachable (a 401 is a config problem, not an outage); recent model calls
// count too, so a busy replica does not probe.
export type Readiness = {
  check(): Promise<{ ready: boolean; detail: string }>;
  /** Reported by the model caller after each attempt. */
  observe(reachable: boolean, detail?: string): void;
};

export function createReadiness(opts: {
  baseUrl: string;
  freshMs?: number;
  probeTimeoutMs?: number;
}): Readiness {
  const freshMs = opts.freshMs ?? 2000;
  const probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
  const probeUrl = `${opts.baseUrl.replace(/\/+$/, '')}/models`;
  let last: { ready: boolean; detail: string; at: number } | undefined;
  let probing: Promise<{ ready: boolean; detail: string }> | undefined;

  const probe = async () => {
    try {
      const res = await fetch(probeUrl, { signal: AbortSignal.timeout(probeTimeoutMs) });
      await res.body?.cancel();
      last = { ready: true, detail: `model endpoint answered ${res.status}`, at: performance.now() };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      last = { ready: false, detail: `model endpoint unreachable (${cause})`, at: performance.now() };
    }
    return { ready: last.ready, detail: last.detail };
  };

  return {
    async check() {
      if (last && performance.now() - last.at < freshMs) return { ready: last.ready, detail: last.detail };
      probing ??= probe().finally(() => {
        probing = undefined;
      });
      return probing;
    },
    observe(reachable, detail) {
      last = {
        ready: reachable,
        detail: detail ?? (reachable ? 'model endpoint answered a review' : 'model endpoint unreachable'),
        at: performance.now(),
      };
    },
  };
}
