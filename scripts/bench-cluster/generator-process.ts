/**
 * The orchestrator's handle on one load-generator process: spawned with the
 * fd limit raised (it may hold ~10,000 sockets), fed its config and commands
 * as JSON lines on stdin, answering on stdout (lines with ANSWER_PREFIX;
 * anything else is passed to the log).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RAISE_FD_LIMIT } from './cluster.ts';
import { ANSWER_PREFIX, type GeneratorAnswer, type GeneratorCommand, type GeneratorConfig } from './types.ts';

const SCRIPT = fileURLToPath(new URL('./generator.ts', import.meta.url));

export class GeneratorProcess {
  private readonly waiting: ((a: GeneratorAnswer | Error) => void)[] = [];
  private exitReason: string | null = null;
  private readonly exited: Promise<void>;
  private readonly stdin: NodeJS.WritableStream;
  private readonly kill: () => void;
  readonly pid: number;

  constructor(readonly name: string, config: GeneratorConfig, log: (m: string) => void) {
    const child = spawn('/bin/sh', ['-c', RAISE_FD_LIMIT, 'sh', process.execPath, '--import', 'tsx', SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: process.env,
    });
    this.pid = child.pid!;
    this.stdin = child.stdin!;
    this.kill = () => child.kill('SIGKILL');
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitReason = String(code ?? signal);
        for (const w of this.waiting.splice(0)) w(new Error(`${name} exited (${this.exitReason}) without answering`));
        resolve();
      }),
    );
    createInterface({ input: child.stderr! }).on('line', (line) => log(`${name} stderr: ${line}`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith(ANSWER_PREFIX)) return log(`${name}: ${line}`);
      this.waiting.shift()?.(JSON.parse(line.slice(ANSWER_PREFIX.length)) as GeneratorAnswer);
    });
    this.stdin.on('error', () => undefined);
    this.stdin.write(`${JSON.stringify(config)}\n`);
  }

  /** Sends one command; resolves with its answer (rejects after limitMs or if the process dies). */
  command<T extends GeneratorAnswer>(cmd: GeneratorCommand, limitMs: number): Promise<T> {
    if (this.exitReason !== null) return Promise.reject(new Error(`${this.name} has exited (${this.exitReason})`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => (this.kill(), reject(new Error(`${this.name}: no answer to ${cmd.cmd} in ${limitMs} ms`))), limitMs);
      this.waiting.push((a) => {
        clearTimeout(timer);
        if (a instanceof Error) reject(a);
        else resolve(a as T);
      });
      this.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /** Asks it to drop its connections and exit; kills it if it does not within limitMs. */
  async close(limitMs = 20_000): Promise<void> {
    if (this.exitReason === null) {
      await this.command({ cmd: 'close' }, limitMs).catch(() => this.kill());
    }
    const timer = setTimeout(() => this.kill(), limitMs);
    await this.exited;
    clearTimeout(timer);
  }
}
