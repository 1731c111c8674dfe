// [redis]: where every service finds Redis.
import Type from 'typebox';

export const RedisSection = Type.Object(
  {
    url: Type.Optional(
      Type.String({ pattern: '^rediss?://', description: 'Redis URL; unset: npm start runs one' }),
    ),
  },
  { additionalProperties: false },
);
