/**
 * Loads a state machine module by name: a built-in (`kv`, `counter`) or a module path (absolute,
 * or relative to the working directory). The module's default export is a factory.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtInStateMachines, type StateMachine, type StateMachineFactory } from '../state-machine.js';
import { ConfigurationError } from '../errors.js';

/** The URL the module is imported from; the same string resolves the same way in every thread. */
export function resolveStateMachine(spec: string): string {
  if ((builtInStateMachines as readonly string[]).includes(spec)) {
    return new URL(`./${spec}.js`, import.meta.url).href;
  }
  if (spec.startsWith('file:')) return spec;
  return pathToFileURL(path.resolve(spec)).href;
}

export async function loadStateMachine(spec: string): Promise<StateMachine> {
  const url = resolveStateMachine(spec);
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new ConfigurationError(`state machine module ${spec} cannot be loaded: ${(error as Error).message}`);
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
