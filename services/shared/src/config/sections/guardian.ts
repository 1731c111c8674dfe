// [guardian]: the review service.
import Type from 'typebox';
import { listen } from './listen.ts';

export const GuardianSection = Type.Object(
  {
    ...listen(8081),
    url: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'Where workers and the proxy reach it' }),
    ),
  },
  { additionalProperties: false },
);
