// The images' HEALTHCHECK: GET /healthz of the named service on this container's loopback, on the
// port its PADDOCK_<SERVICE>_PORT says (the same variable the service reads). Exit 0 when healthy.
const defaults = {
  orchestrator: ['PADDOCK_ORCHESTRATOR_PORT', 8080],
  guardian: ['PADDOCK_GUARDIAN_PORT', 8081],
  'egress-proxy': ['PADDOCK_EGRESS_PROXY_PORT', 3128],
  'sandbox-worker': ['PADDOCK_SANDBOX_WORKER_PORT', 8083],
  'guardian-balancer': ['PADDOCK_BALANCER_PORT', 8081],
  'fake-model': ['FAKE_MODEL_PORT', 8090, '/v1/models'],
};
const entry = defaults[process.argv[2] ?? ''];
if (!entry) {
  console.error(`healthcheck: unknown service ${process.argv[2]}`);
  process.exit(2);
}
const port = process.env[entry[0]] || entry[1];
try {
  const res = await fetch(`http://127.0.0.1:${port}${entry[2] ?? '/healthz'}`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err.message}`);
  process.exit(1);
}
