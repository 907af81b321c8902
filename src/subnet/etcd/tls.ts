/**
 * TLS material for etcd (--etcd-certfile, --etcd-keyfile, --etcd-cafile), read once at start so a
 * missing or unreadable file is one fatal line naming the flag and the file, and TLS handshake
 * failures turned into messages that say which file to look at.
 */
import { errorText } from '../../util/errors.ts';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';

export interface EtcdTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface EtcdTlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
  readonly files: EtcdTlsFiles;
}

/** A TLS file flannel cannot use. */
export class EtcdTlsFileError extends Error {
  override readonly name = 'EtcdTlsFileError';
}

/**
 * Reads the files that are set. A client certificate needs both files, as upstream (which
 * ignores one without the other); we refuse the half pair instead of silently going without.
 */
export function loadTls(files: EtcdTlsFiles): EtcdTlsMaterial {
  if ((files.certFile === '') !== (files.keyFile === '')) {
    const [given, missing] = files.certFile === '' ? ['--etcd-keyfile', '--etcd-certfile'] : ['--etcd-certfile', '--etcd-keyfile'];
    throw new EtcdTlsFileError(`${given} is set but ${missing} is not: a client certificate needs both`);
  }
  const cert = files.certFile === '' ? undefined : readPem('--etcd-certfile', files.certFile, 'CERTIFICATE');
  const key = files.keyFile === '' ? undefined : readPem('--etcd-keyfile', files.keyFile, 'PRIVATE KEY');
  const ca = files.caFile === '' ? undefined : readPem('--etcd-cafile', files.caFile, 'CERTIFICATE');
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (e) {
      throw new EtcdTlsFileError(`--etcd-cafile ${files.caFile}: not a PEM certificate (${errorText(e)})`);
    }
  }
  return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}), files };
}

function readPem(flag: string, path: string, kind: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EtcdTlsFileError(`${flag} ${path}: cannot read it (${code ?? errorText(e)})`);
  }
  if (!data.toString('latin1').includes(kind)) throw new EtcdTlsFileError(`${flag} ${path}: no PEM "${kind}" block in it`);
  return data;
}

/** OpenSSL verification codes that mean "the server's certificate is not signed by a CA we trust". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * Says what a TLS failure means for the operator, naming the file involved; undefined when
 * `e` is no TLS failure.
 */
export function describeTlsError(e: Error, endpoint: string, tls: EtcdTlsMaterial | undefined): string | undefined {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  // Node's own text for these suggests --use-system-ca, which is not what an operator should do here.
  if (UNTRUSTED.has(code)) {
    const ca = tls?.files.caFile;
    return ca
      ? `TLS: the certificate of ${endpoint} is not signed by the CA in --etcd-cafile ${ca} (${code})`
      : `TLS: the certificate of ${endpoint} is not signed by a CA this system trusts; give etcd's CA with --etcd-cafile (${code})`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS: the certificate of ${endpoint} is not valid for that address (${e.message})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `TLS: the certificate of ${endpoint} is not valid now (${code})`;
  // The server rejected our client certificate (or that we sent none).
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown)|ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA)/i.test(`${code} ${e.message}`)) {
    const cert = tls?.files.certFile;
    return cert
      ? `TLS: ${endpoint} refused the client certificate in --etcd-certfile ${cert} (${e.message})`
      : `TLS: ${endpoint} requires a client certificate; give it with --etcd-certfile and --etcd-keyfile (${e.message})`;
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /SSL routines|wrong version number/i.test(e.message)) {
    return `TLS: handshake with ${endpoint} failed (${code ? `${code}: ` : ''}${e.message})`;
  }
  return undefined;
}
