// [cluster]: settings every service reads alike. shutdown_grace_ms is the one shutdown budget: each
// service's own stop deadline, and what docker-compose.yml (stop_grace_period) and the Kubernetes
// manifests (terminationGracePeriodSeconds) give it before SIGKILL (scripts/test/manifests.test.ts checks they agree).
import Type from 'typebox';

export const ClusterSection = Type.Object(
  {
    shutdown_grace_ms: Type.Optional(
      Type.Integer({
        minimum: 5000,
        maximum: 3_600_000,
        default: 180_000,
        description:
          'Shutdown budget of every service from SIGTERM: a worker lets running turns finish, then hands the rest over to another worker; the proxy lets open tunnels run. The compose stop_grace_period and the manifests\' terminationGracePeriodSeconds are this value',
      }),
    ),
  },
  { additionalProperties: false },
);
