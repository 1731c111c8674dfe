// The bind address and port every service section has.
import Type from 'typebox';

export const listen = (port: number) => ({
  host: Type.Optional(Type.String({ default: '127.0.0.1', description: 'Bind address' })),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: port, description: 'TCP port' })),
});
export const ENV_VAR_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
