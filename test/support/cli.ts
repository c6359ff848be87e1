/**
 * The `raftline` command in child processes, as a user runs it: the compiled CLI run to
 * completion (`runCli`) or kept running with its output collected (`startCli`, for `server` and
 * `cluster`), and the checks the CLI tests share (one line on stderr, a port that answers).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const cliPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
}

export interface RunOptions {
  /** Killed with SIGKILL after this long (default 15 s). */
  timeoutMs?: number;
  /** Written to the CLI's standard input, which is then closed (default: no input, closed). */
  input?: string | Uint8Array;
  cwd?: string;
}

/** Runs the CLI to completion and collects what it printed. */
export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    if (options.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    };
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', finish);
    // Processes the CLI started may hold its output pipes open after it exited: do not wait on them.
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 1000).unref());
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A CLI process left running: its output so far, and its exit once it comes. */
export interface CliProcess {
  child: ChildProcess;
  exited: Promise<Exit>;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first line of stdout matching `pattern`; rejects if the process exits first. */
  waitForLine: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
}

export function startCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const waitForLine = async (pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of stdout.split('\n')) {
        const match = line.match(pattern);
        if (match !== null) return match;
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the CLI exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${stdout}${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`no line ${pattern} within ${timeoutMs} ms: ${stdout}${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { child, exited, stdout: () => stdout, stderr: () => stderr, waitForLine };
}

/** A `raftline server` with inline actors and warn-level logging, left running. */
export function startServer(args: string[]): CliProcess {
  return startCli(['server', '--actors', 'inline', '--log-level', 'warn', ...args]);
}

/** Stops a CLI process: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopCli(process: CliProcess, graceMs = 10_000): Promise<Exit> {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGTERM');
  const timer = setTimeout(() => process.child.kill('SIGKILL'), graceMs);
  try {
    return await process.exited;
  } finally {
    clearTimeout(timer);
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Waits until something accepts connections on `port`; fails early if `process` exits. */
export async function waitListening(port: number, process: CliProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.child.exitCode !== null) throw new Error(`server exited early (${process.child.exitCode}): ${process.stderr()}`);
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
}

/** Asserts that `stderr` holds exactly one non-empty line, and returns it. */
export function assertOneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${JSON.stringify(stderr)}`);
  assert.ok(lines[0]!.length > 0, 'stderr is not empty');
  return lines[0]!;
}
