// TLS files for etcds:// (issue 20), judged at start: a CA, a client
// certificate and its key are read and checked, and every problem is one
// line naming the file. Certificates are made here with openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/control/store/store.js';
import { readEtcdTls } from '../../src/control/store/tls.js';

describe('etcd TLS files', () => {
  let dir: string;
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-tls-'));
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=weft-test-ca');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=weft-host');
    ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '2');
    ssl('genpkey', '-algorithm', 'RSA', '-out', f('other.key'));
    writeFileSync(f('garbage.pem'), 'not a certificate\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a CA and a client certificate with its key', () => {
    const tls = readEtcdTls({ cacert: f('ca.pem'), cert: f('client.pem'), key: f('client.key') });
    expect(tls.rootCertificate?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(tls.certChain?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(tls.privateKey?.toString()).toMatch(/PRIVATE KEY-----/);
    expect(readEtcdTls({ cacert: f('ca.pem') })).toEqual({ rootCertificate: expect.any(Buffer) });
  });

  it('refuses each bad file with one line naming it', () => {
    const cases: Array<[Parameters<typeof readEtcdTls>[0], RegExp]> = [
      [{ cacert: f('missing.pem') }, /^cannot read --etcd-cacert .*missing\.pem: no such file$/],
      [{ cacert: f('garbage.pem') }, /^--etcd-cacert .*garbage\.pem is not a PEM certificate$/],
      [{ cert: f('client.pem') }, /^--etcd-cert and --etcd-key go together/],
      [{ cert: f('client.pem'), key: f('garbage.pem') }, /^--etcd-key .*garbage\.pem is not a PEM private key/],
      [{ cert: f('client.pem'), key: f('other.key') }, /^--etcd-key .*other\.key is not the key of --etcd-cert .*client\.pem$/],
    ];
    for (const [files, msg] of cases) {
      expect(() => readEtcdTls(files), JSON.stringify(files)).toThrow(msg);
    }
    // A certificate past its end: said with its date.
    expect(() => readEtcdTls({ cacert: f('ca.pem') }, Date.now() + 5 * 86_400_000)).toThrow(/^--etcd-cacert .*ca\.pem expired on /);
  });

  it('takes TLS files only with etcds://, and parses its endpoints like etcd://', async () => {
    await expect(openStore('etcd://127.0.0.1:2379', { stateDir: dir, tls: { cacert: f('ca.pem') } })).rejects.toThrow(/need an etcds:\/\/ store/);
    await expect(openStore('embedded', { stateDir: dir, tls: { key: f('client.key') } })).rejects.toThrow(/need an etcds:\/\/ store/);
    await expect(openStore('etcds://127.0.0.1', { stateDir: dir })).rejects.toThrow(/bad etcd endpoint "127.0.0.1"/);
    const s = await openStore('etcds://127.0.0.1:1,127.0.0.1:2', { stateDir: dir, tls: { cacert: f('ca.pem'), cert: f('client.pem'), key: f('client.key') } });
    expect(s.kind).toBe('etcd');
    await s.close();
  });
});
