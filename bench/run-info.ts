/**
 * What a benchmark result records about where it ran: the machine (CPUs, model, memory, OS,
 * Node.js) and the versions of raftline and of its dependencies as installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** The repository root: dist/bench/ is two levels below it. */
const rootDir = fileURLToPath(new URL('../../', import.meta.url));

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** raftline's version and each dependency's installed version (its package.json in node_modules). */
export function versions(): Record<string, string> {
  const own = readJson(`${rootDir}package.json`);
  const out: Record<string, string> = { raftline: String(own?.['version'] ?? 'unknown') };
  const dependencies = { ...(own?.['dependencies'] as Record<string, string> | undefined) };
  for (const name of Object.keys(dependencies).sort()) {
    out[name] = String(readJson(`${rootDir}node_modules/${name}/package.json`)?.['version'] ?? dependencies[name]);
  }
  return out;
}
