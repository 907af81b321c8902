import { describe, expect, it } from 'vitest';
import { parseKernelRelease } from '../../../src/kernel/release.ts';
import { csumLabel, csumPolicy, kernelHasCsumBug } from '../../../src/kernel/tx-csum.ts';

describe('kernel release', () => {
  it('parses what uname prints', () => {
    expect(parseKernelRelease('5.4.0-150-generic')).toEqual({ major: 5, minor: 4, patch: 0, text: '5.4.0-150-generic' });
    expect(parseKernelRelease('6.18.44-fc-v595\n')).toEqual({ major: 6, minor: 18, patch: 44, text: '6.18.44-fc-v595' });
    expect(parseKernelRelease('4.19')).toEqual({ major: 4, minor: 19, patch: 0, text: '4.19' });
    expect(parseKernelRelease('linux')).toBeUndefined();
  });
});

describe('--vxlan-csum-offload', () => {
  const k = (text: string) => parseKernelRelease(text);

  it('the bug is in kernels before 5.7 (and assumed when the version is unknown)', () => {
    expect(kernelHasCsumBug(k('5.6.19'))).toBe(true);
    expect(kernelHasCsumBug(k('4.18.0-553.el8'))).toBe(true);
    expect(kernelHasCsumBug(k('5.7.0'))).toBe(false);
    expect(kernelHasCsumBug(k('6.1.0-18-amd64'))).toBe(false);
    expect(kernelHasCsumBug(undefined)).toBe(true);
  });

  it('auto turns offload off only where the bug is; off and on are applied as given', () => {
    expect(csumPolicy('auto', k('5.4.0-150-generic'))).toEqual({
      want: 'off',
      reason: '--vxlan-csum-offload=auto: kernel 5.4.0-150-generic is older than 5.7 (VXLAN checksum bug with --random-fully)',
    });
    expect(csumPolicy('auto', k('6.18.44'))).toEqual({ want: undefined, reason: '--vxlan-csum-offload=auto: kernel 6.18.44 has the fix (5.7+), offload left as the kernel set it' });
    expect(csumPolicy('off', k('6.18.44')).want).toBe('off');
    expect(csumPolicy('on', k('5.4.0')).want).toBe('on');
  });

  it('the flannel_config_info label says what the daemon makes of the device', () => {
    expect(csumLabel(csumPolicy('auto', k('5.4.0')))).toBe('off');
    expect(csumLabel(csumPolicy('auto', k('6.1.0')))).toBe('on');
    expect(csumLabel(undefined)).toBe('');
  });
});
