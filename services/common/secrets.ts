import { randomBytes } from 'node:crypto';

/**
 * A random secret for a generated credential: 192 bits, base64url, so it needs no quoting
 * in a nats-server config, a URL or a shell.
 */
export function randomSecret(): string {
  return randomBytes(24).toString('base64url');
}
