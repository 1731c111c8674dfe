// [orchestrator]: the public API.
import Type from 'typebox';
import { ENV_VAR_NAME_PATTERN, listen } from './listen.ts';

export const OrchestratorSection = Type.Object(
  {
    ...listen(8080),
    operator_key_env: Type.Optional(
      Type.String({
        pattern: ENV_VAR_NAME_PATTERN,
        description: 'Environment variable holding the operator key',
      }),
    ),
  },
  { additionalProperties: false },
);
