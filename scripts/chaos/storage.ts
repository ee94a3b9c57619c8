/**
 * The chaos suite's own MariaDB and Redis (never the machine's, never a
 * shared stack): started under .stack/chaos-<pid> with the embedded stack's
 * launchers, each behind a Relay so its URL survives a restart. The suite
 * may kill -9, SIGSTOP / SIGCONT and restart them; a watchdog stops every
 * server started here if this process dies without stopping them.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATABASE } from '../../schema/migrate.ts';
import { startWatchdog, terminate, waitUntil, isAlive, type Watchdog } from '../stack-process.ts';
import { startMariadb, startRedis, type RunningService, type ServiceName } from '../stack-services.ts';
import { STACK_ROOT } from '../stack.ts';
import { Relay } from './relay.ts';

const START_TIMEOUT_MS = 60_000;

export class ChaosStorage {
  private readonly running = new Map<ServiceName, RunningService>();
  private readonly relays = new Map<ServiceName, Relay>();
  private readonly spawned = new Set<number>();

  private constructor(readonly dir: string, private readonly watchdog: Watchdog) {}

  static async start(log: (m: string) => void): Promise<ChaosStorage> {
    const dir = join(STACK_ROOT, `chaos-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const storage = new ChaosStorage(dir, startWatchdog());
    try {
      await Promise.all([storage.launch('mysql', true), storage.launch('redis', false)]);
      for (const name of ['mysql', 'redis'] as const) {
        const relay = new Relay(storage.running.get(name)!.port);
        await relay.start();
        storage.relays.set(name, relay);
      }
      log(`storage in ${dir}: mariadb pid ${storage.pid('mysql')}, redis pid ${storage.pid('redis')}`);
      return storage;
    } catch (err) {
      await storage.close();
      throw err;
    }
  }

  get mysqlUrl(): string {
    return `mysql://root@127.0.0.1:${this.relays.get('mysql')!.port}/${DEFAULT_DATABASE}`;
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.relays.get('redis')!.port}`;
  }

  pid(name: ServiceName): number {
    return this.running.get(name)?.pid ?? 0;
  }

  signal(name: ServiceName, sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    process.kill(this.pid(name), sig);
  }

  /** kill -9 and wait until it is gone. */
  async kill(name: ServiceName): Promise<void> {
    const pid = this.pid(name);
    this.signal(name, 'SIGKILL');
    await waitUntil(() => !isAlive(pid), 10_000, 20);
  }

  /** Starts a killed server again on its data (Redis: on nothing, its files deleted first). */
  async restart(name: ServiceName): Promise<void> {
    if (name === 'redis') rmSync(join(this.dir, 'redis'), { recursive: true, force: true });
    await this.launch(name, false);
    this.relays.get(name)!.targetPort = this.running.get(name)!.port;
  }

  private async launch(name: ServiceName, fresh: boolean): Promise<void> {
    const onSpawn = (pid: number): void => {
      this.spawned.add(pid);
      this.watchdog.guard(pid);
    };
    const opts = { timeoutMs: START_TIMEOUT_MS, onSpawn };
    this.running.set(name, name === 'mysql' ? await startMariadb(this.dir, { ...opts, fresh }) : await startRedis(this.dir, opts));
  }

  async close(): Promise<void> {
    for (const relay of this.relays.values()) await relay.stop();
    for (const pid of this.spawned) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    await Promise.all([...this.spawned].map((pid) => terminate(pid, 30_000)));
    await this.watchdog.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
