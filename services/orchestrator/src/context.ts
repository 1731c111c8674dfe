// What every route module gets: storage, settings, the clock, the scheduler.
import type { ClusterFile } from '@paddock/config';
import type { TurnScheduler } from '@paddock/turn-queue';
import type { Redis } from 'ioredis';
import type { OrchestratorSettings } from './settings.ts';

export type RouteContext = {
  redis: Redis;
  settings: OrchestratorSettings;
  /** The cluster file: its agent keys are the cluster config layer, its requirements apply to all. */
  clusterFile: ClusterFile;
  scheduler: TurnScheduler;
  /** Injected so tests can move time (token expiry, rate windows). */
  now: () => number;
};
