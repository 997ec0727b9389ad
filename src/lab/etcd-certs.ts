// Certificates for an etcd cluster with TLS, made with openssl: a CA, one
// certificate the members share (server and client use, SAN = the members'
// addresses; they are also the peers' client certificate) and a client
// certificate for weft. `untrusted` adds a second CA with a client
// certificate of its own that the cluster must refuse (for tests).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface EtcdCerts {
  dir: string;
  ca: string;
  /** The members' certificate and key. */
  member: string;
  memberKey: string;
  /** weft's client certificate and key. */
  cert: string;
  key: string;
  /** With `untrusted`: a CA the cluster does not trust, and a client certificate it signed. */
  otherCa?: string;
  otherCert?: string;
  otherKey?: string;
}

export function makeEtcdCerts(dir: string, memberIps: string[], opts: { untrusted?: boolean } = {}): EtcdCerts {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  const ca = (name: string) => ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '30', '-subj', `/CN=${name}`);
  const signed = (name: string, by: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${by}.pem`), '-CAkey', f(`${by}.key`), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '30', '-extfile', f(`${name}.ext`));
  };
  ca('ca');
  signed('member', 'ca', `subjectAltName=${memberIps.map((ip) => `IP:${ip}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  signed('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  const certs: EtcdCerts = { dir, ca: f('ca.pem'), member: f('member.pem'), memberKey: f('member.key'), cert: f('client.pem'), key: f('client.key') };
  if (opts.untrusted) {
    ca('other-ca');
    signed('other-client', 'other-ca', 'extendedKeyUsage=clientAuth\n');
    Object.assign(certs, { otherCa: f('other-ca.pem'), otherCert: f('other-client.pem'), otherKey: f('other-client.key') });
  }
  return certs;
}

/** The etcd flags of a member that serves clients and peers over TLS, with client certificates required both ways. */
export function memberTlsFlags(c: EtcdCerts): string[] {
  return [
    `--cert-file=${c.member}`,
    `--key-file=${c.memberKey}`,
    `--trusted-ca-file=${c.ca}`,
    '--client-cert-auth',
    `--peer-cert-file=${c.member}`,
    `--peer-key-file=${c.memberKey}`,
    `--peer-trusted-ca-file=${c.ca}`,
    '--peer-client-cert-auth',
  ];
}
