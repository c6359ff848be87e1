/**
 * Loads a state machine module: a built-in (`kv`, `counter`), a file URL (`new URL('./ledger.js',
 * import.meta.url)`, or its string form), or a path, absolute or relative to the working directory
 * of the process that starts the server. The module is JavaScript (a TypeScript state machine is
 * compiled first) and its default export is a factory.
 *
 * A server resolves its state machine once, when it starts (`stateMachineSpec`), and loads that
 * same URL on the main thread and in the updater, so both see the same module whatever the
 * updater's thread would make of a relative path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { builtInStateMachines, type StateMachine, type StateMachineFactory } from '../state-machine.js';
import { ConfigurationError } from '../errors.js';

const isBuiltIn = (spec: string): boolean => (builtInStateMachines as readonly string[]).includes(spec);

/**
 * What a server passes around for its state machine: a built-in's name, or an absolute file URL
 * (a relative path resolved against the working directory now). Default `kv`.
 */
export function stateMachineSpec(spec: string | URL | undefined): string {
  if (spec === undefined) return 'kv';
  if (spec instanceof URL) {
    if (spec.protocol !== 'file:') throw new ConfigurationError(`state machine URL ${spec.href} is not a file: URL`);
    return spec.href;
  }
  if (isBuiltIn(spec) || spec.startsWith('file:')) return spec;
  if (spec.length === 0) throw new ConfigurationError('state machine is empty: kv, counter, a module path or a file: URL');
  return pathToFileURL(path.resolve(spec)).href;
}

/** The URL the module is imported from; the same string resolves the same way in every thread. */
export function resolveStateMachine(spec: string): string {
  if (isBuiltIn(spec)) return new URL(`./${spec}.js`, import.meta.url).href;
  return stateMachineSpec(spec);
}

/**
 * Checks, without loading it, that a state machine module can be found: a process that starts
 * servers (`raftline cluster`) refuses a missing or TypeScript module before any server fails on it.
 */
export function checkStateMachineFile(spec: string | URL): void {
  const url = stateMachineSpec(spec);
  if (isBuiltIn(url)) return;
  const file = fileURLToPath(url);
  if (/\.[cm]?tsx?$/.test(file)) throw new ConfigurationError(loadProblem(String(spec), url, new Error('TypeScript')));
  if (!fs.existsSync(file)) {
    const relative = typeof spec === 'string' && !spec.startsWith('file:') && !path.isAbsolute(spec);
    throw new ConfigurationError(`state machine module ${String(spec)} not found: no file ${file}` +
      (relative ? ` (a relative path resolves against the working directory, ${process.cwd()})` : ''));
  }
}

function loadProblem(spec: string, url: string, error: Error): string {
  const file = url.startsWith('file:') ? fileURLToPath(url) : url;
  if (/\.[cm]?tsx?$/.test(file)) {
    return `state machine module ${spec} is TypeScript: compile it to JavaScript (tsc) and give the .js file`;
  }
  const relative = !isBuiltIn(spec) && !spec.startsWith('file:') && !path.isAbsolute(spec);
  const where = relative ? ` (a relative path resolves against the working directory ${process.cwd()}: ${file})` : '';
  return `state machine module ${spec} cannot be loaded${where}: ${error.message.split('\n')[0]}`;
}

export async function loadStateMachine(spec: string): Promise<StateMachine> {
  const url = resolveStateMachine(spec);
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new ConfigurationError(loadProblem(spec, url, error as Error), { stateMachine: spec });
  }
  const factory = module.default;
  if (typeof factory !== 'function') {
    throw new ConfigurationError(`state machine module ${spec} has no default export factory`);
  }
  const stateMachine = (factory as StateMachineFactory)();
  if (typeof stateMachine?.applyTransaction !== 'function' || typeof stateMachine.query !== 'function') {
    throw new ConfigurationError(`state machine from ${spec} lacks applyTransaction or query`);
  }
  return stateMachine;
}
