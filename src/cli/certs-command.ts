/**
 * `raftline certs create --nodes N --out DIR`: a development CA and certificates for a local TLS
 * group (src/cluster/dev-certificates.ts says which files, made with the system's `openssl`).
 */
import type { Command } from 'commander';
import { createDevCertificates } from '../cluster/dev-certificates.js';
import { integer } from './flags.js';

export function addCertsCommand(program: Command): void {
  const certs = program.command('certs').description('TLS certificates for development and tests');
  certs.command('create')
    .description('make a development CA, one certificate per server (n1..nN, SAN raftline://peer/<id>) and client certificates ' +
      '(client.pem: role admin, writer.pem: write, reader.pem: read) as PEM files in --out; uses the system\'s openssl command')
    .option('--nodes <n>', 'number of server certificates', integer('--nodes', 1, 99), 3)
    .requiredOption('--out <dir>', 'the folder to write them to (made if missing)')
    .action((options: { nodes: number; out: string }) => {
      for (const file of createDevCertificates(options.nodes, options.out)) process.stdout.write(`${file}\n`);
    });
}
