// TLS to etcd (`etcds://`, --etcd-cacert, --etcd-cert, --etcd-key): the
// files are read and judged at start, each problem one line that names the
// file, so a wrong path or a key of another certificate never surfaces later
// as a gRPC handshake error on every call.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The files as given on the command line. */
export interface EtcdTlsFiles {
  cacert?: string;
  cert?: string;
  key?: string;
}

/** What the etcd client is given: PEM bytes. */
export interface EtcdTls {
  rootCertificate?: Buffer;
  certChain?: Buffer;
  privateKey?: Buffer;
}

function read(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot read ${flag} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message}`);
  }
}

function certificate(flag: string, path: string, pem: Buffer, now: number): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new Error(`${flag} ${path} is not a PEM certificate`);
  }
  if (Date.parse(cert.validTo) < now) throw new Error(`${flag} ${path} expired on ${cert.validTo}`);
  if (Date.parse(cert.validFrom) > now) throw new Error(`${flag} ${path} is not valid before ${cert.validFrom}`);
  return cert;
}

/** Reads and checks the files; throws one line naming the file and what is wrong. */
export function readEtcdTls(files: EtcdTlsFiles, now = Date.now()): EtcdTls {
  if ((files.cert === undefined) !== (files.key === undefined)) throw new Error('--etcd-cert and --etcd-key go together (a client certificate and its key)');
  const out: EtcdTls = {};
  if (files.cacert !== undefined) {
    out.rootCertificate = read('--etcd-cacert', files.cacert);
    certificate('--etcd-cacert', files.cacert, out.rootCertificate, now);
  }
  if (files.cert !== undefined && files.key !== undefined) {
    out.certChain = read('--etcd-cert', files.cert);
    out.privateKey = read('--etcd-key', files.key);
    const cert = certificate('--etcd-cert', files.cert, out.certChain, now);
    let key;
    try {
      key = createPrivateKey(out.privateKey);
    } catch {
      throw new Error(`--etcd-key ${files.key} is not a PEM private key (or it is encrypted: give it without a passphrase)`);
    }
    if (!cert.checkPrivateKey(key)) throw new Error(`--etcd-key ${files.key} is not the key of --etcd-cert ${files.cert}`);
  }
  return out;
}

/** Whether any TLS file was given. */
export const anyTls = (f: EtcdTlsFiles) => f.cacert !== undefined || f.cert !== undefined || f.key !== undefined;
