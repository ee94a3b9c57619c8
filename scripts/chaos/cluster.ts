/**
 * The cluster under fault: db-proxy, two route-servers and two access
 * servers (a, b), each its own process started by the cluster benchmark's
 * startNode, on ports chosen once so that a process the suite kills can be
 * started again where its peers expect it (as an operator's supervisor
 * would). Every process gets CLUSTER_SECRET in its environment.
 */
import { randomBytes } from 'node:crypto';
import { startNode, type NodeProcess } from '../bench-cluster/cluster.ts';
import type { ServerAddress } from '../bench-cluster/types.ts';
import { freePort, waitUntil } from '../stack-process.ts';

export type ProcName = 'db-proxy' | 'route-1' | 'route-2' | 'access-a' | 'access-b';
export const PROC_NAMES: readonly ProcName[] = ['db-proxy', 'route-1', 'route-2', 'access-a', 'access-b'];

interface Spec {
  script: string;
  ready: string;
  env: Record<string, string>;
}

/** Connections an access server accepts (the flood scenario goes past it). */
export const ACCESS_MAX_CONNECTIONS = 1500;
const LOOPBACK = '127.0.0.1';

export class ChaosCluster {
  readonly secret = randomBytes(16).toString('hex');
  readonly procs = new Map<ProcName, NodeProcess>();
  /** Exits not caused by the suite, per process. */
  readonly unexpected: string[] = [];
  private readonly specs = new Map<ProcName, Spec>();
  private readonly expecting = new Set<ProcName>();
  readonly ports = new Map<ProcName, number>();
  routeHttp = '';

  private constructor(private readonly log: (m: string) => void) {}

  static async start(storageEnv: Record<string, string>, log: (m: string) => void): Promise<ChaosCluster> {
    const c = new ChaosCluster(log);
    for (const name of PROC_NAMES) c.ports.set(name, await freePort());
    const addr = (n: ProcName): string => `${LOOPBACK}:${c.ports.get(n)}`;
    const port = (n: ProcName): string => String(c.ports.get(n));
    c.specs.set('db-proxy', { script: 'db-proxy/main.ts', ready: 'db-proxy listening', env: { ...storageEnv, DB_PROXY_HOST: LOOPBACK, DB_PROXY_PORT: port('db-proxy'), DB_PROXY_HTTP_PORT: '0' } });
    for (const r of ['route-1', 'route-2'] as const) {
      c.specs.set(r, { script: 'route-server/main.ts', ready: 'route-server listening', env: { ROUTE_SERVER_HOST: LOOPBACK, ROUTE_SERVER_PORT: port(r), ROUTE_HTTP_PORT: '0', ROUTE_LOGIN_PORT: '0' } });
    }
    for (const id of ['a', 'b'] as const) {
      const name: ProcName = `access-${id}`;
      c.specs.set(name, {
        script: 'access-server/main.ts',
        ready: 'access-server listening',
        env: {
          ...storageEnv,
          ACCESS_SERVER_ID: id,
          ACCESS_HOST: LOOPBACK,
          ACCESS_PORT: port(name),
          ACCESS_MAX_CONNECTIONS: String(ACCESS_MAX_CONNECTIONS),
          // Every client of the suite logs in (and again after each fault) from loopback:
          // the per-source login throttle is raised out of the way.
          ACCESS_LOGIN_RATE_PER_SEC: '1000000',
          ACCESS_LOGIN_BURST: '1000000',
          DB_PROXY_ADDRS: addr('db-proxy'),
          ROUTE_SERVERS: `${addr('route-1')},${addr('route-2')}`,
        },
      });
    }
    try {
      for (const name of PROC_NAMES) await c.launch(name);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Access servers a and b. */
  get servers(): [ServerAddress, ServerAddress] {
    return [{ host: LOOPBACK, port: this.ports.get('access-a')! }, { host: LOOPBACK, port: this.ports.get('access-b')! }];
  }

  private async launch(name: ProcName): Promise<NodeProcess> {
    const spec = this.specs.get(name)!;
    const p = await startNode(name, spec.script, { ...spec.env, CLUSTER_SECRET: this.secret }, spec.ready, this.log);
    this.procs.set(name, p);
    if (name === 'route-1') this.routeHttp = `http://${LOOPBACK}:${(p.ready.http as { port: number }).port}`;
    return p;
  }

  /** Sends a signal the suite means (the exit it causes is expected) and waits until the process is gone (bounded). */
  async signal(name: ProcName, sig: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const p = this.procs.get(name)!;
    this.expecting.add(name);
    process.kill(p.pid, sig);
    if (!(await waitUntil(() => p.exited() !== null, 20_000, 10))) {
      this.log(`${name} still running 20 s after ${sig}; killing it`);
      process.kill(p.pid, 'SIGKILL');
      await waitUntil(() => p.exited() !== null, 5_000, 10);
    }
  }

  /** Starts a process again on its ports; resolves once it listens (the time is the caller's). */
  async restart(name: ProcName): Promise<void> {
    this.expecting.delete(name);
    await this.launch(name);
  }

  /** Records processes that exited without being told to and starts them again; returns their names. */
  async reviveUnexpected(scenario: string): Promise<ProcName[]> {
    const dead = PROC_NAMES.filter((n) => !this.expecting.has(n) && this.procs.get(n)!.exited() !== null);
    for (const n of dead) {
      this.unexpected.push(`${n} exited (${this.procs.get(n)!.exited()}) during ${scenario}`);
      await this.restart(n);
    }
    return dead;
  }

  rss(): Record<ProcName, { pid: number; rssBytes: number }> {
    return Object.fromEntries(PROC_NAMES.map((n) => [n, { pid: this.procs.get(n)!.pid, rssBytes: this.procs.get(n)!.rssBytes() }])) as Record<ProcName, { pid: number; rssBytes: number }>;
  }

  async stop(): Promise<void> {
    for (const name of [...PROC_NAMES].reverse()) await this.procs.get(name)?.stop();
  }
}
