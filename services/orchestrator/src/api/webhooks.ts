// HTTP schemas of workspace webhooks and their delivery log.
import { WEBHOOK_EVENTS } from '@paddock/contracts';
import Type from 'typebox';
import { Timestamp } from './common.ts';

export const WebhookParams = Type.Object({
  ws: Type.String({ minLength: 1, maxLength: 100 }),
  hook_id: Type.String({ minLength: 1, maxLength: 100 }),
});

const EventType = Type.Enum([...WEBHOOK_EVENTS], { description: 'An event a webhook may subscribe to' });

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'https URL receiving POSTed JSON events; public addresses only unless the operator allows others',
    }),
    events: Type.Array(EventType, { minItems: 1, uniqueItems: true }),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(EventType),
  description: Type.Optional(Type.String()),
  created_at: Timestamp,
  created_by: Type.String(),
});

export const CreatedWebhook = Type.Object({
  ...Webhook.properties,
  secret: Type.String({
    description:
      'Shown once: the HMAC-SHA256 key of the Paddock-Signature header (t=<unix s>,v1=<hex HMAC of "<t>.<body>">)',
  }),
});

export const DeletedWebhook = Type.Object({ id: Type.String(), deleted: Type.Boolean() });

export const WebhookList = Type.Object({ items: Type.Array(Webhook) });

export const DeliveryAttempt = Type.Object({
  at: Timestamp,
  duration_ms: Type.Integer(),
  status_code: Type.Optional(Type.Integer({ description: "The receiver's HTTP status" })),
  error: Type.Optional(Type.String({ description: 'Why no answer came (refused destination, timeout, connection)' })),
});

export const Delivery = Type.Object({
  id: Type.String(),
  event_id: Type.String({ description: 'The event id (the body\'s `id`, the same on every retry)' }),
  type: EventType,
  status: Type.Enum(['pending', 'delivered', 'failed', 'cancelled']),
  attempts: Type.Integer(),
  attempt_log: Type.Array(DeliveryAttempt, { description: 'The last attempts, oldest first' }),
  created_at: Timestamp,
  next_attempt_at: Type.Optional(Timestamp),
  delivered_at: Type.Optional(Timestamp),
});

export const DeliveryList = Type.Object({ items: Type.Array(Delivery) });
