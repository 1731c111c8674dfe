// [sandbox_worker]: runs turns in sandboxes; host/port are its health probe.
import Type from 'typebox';
import { listen } from './listen.ts';

export const SandboxWorkerSection = Type.Object(
  {
    ...listen(8083),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, default: 4, description: 'Turns run at once' })),
  },
  { additionalProperties: false },
);
