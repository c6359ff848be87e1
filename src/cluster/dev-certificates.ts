/**
 * A development CA and certificates for a local TLS group, made with the system's `openssl`
 * binary (OpenSSL 1.1.1 or 3; no npm dependency): what `raftline certs create`, `raftline chaos
 * --tls` and the tests use. Files (PEM): `ca.pem` (+ `ca-key.pem`), for each server n1..nN
 * `n<i>.pem` + `n<i>-key.pem` (SAN `raftline://peer/n<i>`, plus `DNS:localhost` and
 * `IP:127.0.0.1` for other tools), `client.pem` + `client-key.pem` (`raftline://client/admin`,
 * role admin), `writer.pem` + `writer-key.pem` (role write) and `reader.pem` + `reader-key.pem`
 * (role read). Identities: src/shell/tls-identity.ts. The CA key sits beside the certificates.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { clientUriPrefix, peerUriPrefix, roleUriPrefix, type Role } from '../shell/tls-identity.js';

/** The client certificates made beside the servers': file stem, name and role. */
export const devClients: readonly { stem: string; name: string; role: Role }[] = [
  { stem: 'client', name: 'admin', role: 'admin' },
  { stem: 'writer', name: 'writer', role: 'write' },
  { stem: 'reader', name: 'reader', role: 'read' },
];

const validDays = '825';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (failure.code === 'ENOENT') {
      throw new ConfigurationError('raftline certs needs the openssl command (OpenSSL 1.1.1 or later), which is not on the PATH; install it (apt-get install openssl)',
        { missing: 'openssl' });
    }
    throw new ConfigurationError(`openssl ${args[0]} failed: ${(failure.stderr?.toString() ?? failure.message).trim().split('\n')[0]}`);
  }
}

/**
 * One certificate signed by the CA in `dir` (made by createDevCertificates), with `sans` as its
 * subject alternative names, valid for `days` from now (0: it expires within the second; tests).
 */
export function issueCertificate(dir: string, stem: string, commonName: string, sans: string[], days = Number(validDays)): void {
  const extensions = `${stem}.ext`;
  fs.writeFileSync(path.join(dir, extensions), [
    'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=${sans.join(',')}`, '',
  ].join('\n'));
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${stem}-key.pem`,
    '-out', `${stem}.csr`, '-subj', `/CN=${commonName}`], dir);
  openssl(['x509', '-req', '-in', `${stem}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', String(days),
    '-sha256', '-extfile', extensions, '-out', `${stem}.pem`], dir);
  fs.rmSync(path.join(dir, `${stem}.csr`));
  fs.rmSync(path.join(dir, extensions));
}

/** Makes the CA, `nodes` server certificates and the client certificates in `out`; returns the files made. */
export function createDevCertificates(nodes: number, out: string): string[] {
  fs.mkdirSync(out, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    '-days', validDays, '-sha256', '-subj', '/CN=raftline development CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], out);
  const made = ['ca.pem', 'ca-key.pem'];
  for (let i = 1; i <= nodes; i++) {
    const id = `n${i}`;
    issueCertificate(out, id, id, [`URI:${peerUriPrefix}${id}`, 'DNS:localhost', 'IP:127.0.0.1']);
    made.push(`${id}.pem`, `${id}-key.pem`);
  }
  for (const client of devClients) {
    issueCertificate(out, client.stem, client.name, [`URI:${clientUriPrefix}${client.name}`, `URI:${roleUriPrefix}${client.role}`]);
    made.push(`${client.stem}.pem`, `${client.stem}-key.pem`);
  }
  fs.rmSync(path.join(out, 'ca.srl'), { force: true });
  for (const file of made) if (file.endsWith('-key.pem')) fs.chmodSync(path.join(out, file), 0o600);
  return made.map((file) => path.join(out, file));
}
