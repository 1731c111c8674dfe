// [egress_proxy]: the sandboxes' only network exit.
import Type from 'typebox';
import { listen } from './listen.ts';

export const EgressProxySection = Type.Object({ ...listen(3128) }, { additionalProperties: false });
