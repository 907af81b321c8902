import { describe, expect, it } from 'vitest';
import { annotationKeys } from '../../../../src/subnet/kube/annotations.ts';

describe('annotation prefix normalisation (upstream Test_newAnnotations cases)', () => {
  const valid: [string, string][] = [
    ['flannel.alpha.coreos.com', 'flannel.alpha.coreos.com/backend-type'],
    ['flannel.alpha.coreos.com/', 'flannel.alpha.coreos.com/backend-type'],
    ['flannel.alpha.coreos.com/prefix', 'flannel.alpha.coreos.com/prefix-backend-type'],
    ['flannel.alpha.coreos.com/prefix-', 'flannel.alpha.coreos.com/prefix-backend-type'],
    ['org.com', 'org.com/backend-type'],
    ['org9.com', 'org9.com/backend-type'],
    ['org.com/9', 'org.com/9-backend-type'],
  ];
  it.each(valid)('%s → %s', (prefix, backendType) => {
    expect(annotationKeys(prefix).backendType).toBe(backendType);
  });

  const invalid = ['org', 'org/', 'org/prefix', 'org.COM', 'org.com/PREFIX'];
  it.each(invalid)('%s is rejected with upstream’s text', (prefix) => {
    expect(() => annotationKeys(prefix)).toThrow('subnet/kube: prefix must be in a format: fqdn/[0-9a-z-_]*');
  });

  it('rejects more than one slash', () => {
    expect(() => annotationKeys('a.b/c/d')).toThrow('subnet/kube: prefix can contain at most single slash');
  });

  it('derives every key from the normalised prefix', () => {
    expect(annotationKeys('org.com/9')).toEqual({
      prefix: 'org.com/9-',
      kubeSubnetManager: 'org.com/9-kube-subnet-manager',
      backendData: 'org.com/9-backend-data',
      backendV6Data: 'org.com/9-backend-v6-data',
      backendType: 'org.com/9-backend-type',
      publicIp: 'org.com/9-public-ip',
      publicIpv6: 'org.com/9-public-ipv6',
      nodePublicIp: 'org.com/9-node-public-ip',
      nodePublicIpv6: 'org.com/9-node-public-ipv6',
      publicIpOverwrite: 'org.com/9-public-ip-overwrite',
      publicIpv6Overwrite: 'org.com/9-public-ipv6-overwrite',
    });
  });
});
