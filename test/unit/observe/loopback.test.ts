import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from '../../../src/observe/http.ts';

describe('isLoopbackAddress (who may read /debug/state)', () => {
  it('loopback in every form a listener reports, nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ['10.244.1.5', '198.18.0.10', '::ffff:10.244.1.5', 'fe80::1', '1127.0.0.1', undefined]) expect(isLoopbackAddress(a)).toBe(false);
  });
});
