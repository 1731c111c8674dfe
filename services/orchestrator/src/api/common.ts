// Shapes every API route shares: the error body, id path parameters, and cursor pages.
import Type from 'typebox';

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
    details: Type.Optional(Type.Unknown()),
  }),
});

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Page size (capped by the server)' })),
    cursor: Type.Optional(Type.String({ minLength: 1, description: 'next_cursor of the previous page' })),
  },
  { additionalProperties: false },
);

/** A page of items and the cursor of the next one (null on the last page). */
export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const Timestamp = Type.String({ description: 'ISO 8601 time' });
