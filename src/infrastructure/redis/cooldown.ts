// Cooldown / claim keys: SET key 1 NX PX ttl. The first caller in the whole cluster gets
// true; every other replica gets false until the key expires.
import type { Redis } from 'ioredis';
import type { Cooldown } from '../../application/alert-ports.js';
import { AppError } from '../../application/errors.js';

export function createRedisCooldown(redis: Redis): Cooldown {
  return {
    async tryAcquire(key, ttlMs) {
      try {
        const r = await redis.set(key, '1', 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
        return r === 'OK';
      } catch (err) {
        throw new AppError('UNAVAILABLE', `redis: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}
