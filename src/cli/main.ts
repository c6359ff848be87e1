#!/usr/bin/env node
/**
 * The `raftline` command: server, cluster, kv, status, bench, chaos, reset-term, certs. A bad flag (an unknown one is
 * named, with commander's suggestion) or an invalid configuration prints one line and exits with
 * code 2; any other failure prints one line and exits with code 1. `--version` prints the
 * package's version.
 */
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { addServerCommand } from './server-command.js';
import { addClusterCommand } from './cluster-command.js';
import { addClientCommands } from './client-commands.js';
import { addBenchCommand } from './bench-command.js';
import { addChaosCommand } from './chaos-command.js';
import { addResetTermCommand } from './reset-term.js';
import { addCertsCommand } from './certs-command.js';

const usageExitCode = 2;

/** package.json sits three levels up from dist/src/cli/, in the repository and in the installed package. */
const { version } = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('raftline')
  .description('A Raft replication engine for Node.js')
  .version(version, '-V, --version', 'print the version')
  .exitOverride()
  // Commander puts a suggestion ("Did you mean --peers?") on a second line: keep it, on the first.
  .configureOutput({ outputError: (text, write) => write(text.trim().split('\n').map((line) => line.trim()).join(' ') + '\n') });

addServerCommand(program);
addClusterCommand(program);
addClientCommands(program);
addBenchCommand(program);
addChaosCommand(program);
addResetTermCommand(program);
addCertsCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : usageExitCode);
  }
  const code = (error as { code?: string }).code;
  process.stderr.write(`raftline: ${(error as Error).message.split('\n')[0]}\n`);
  process.exit(code === 'CONFIGURATION' ? usageExitCode : 1);
}
