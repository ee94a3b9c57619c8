/** A TCP relay in front of a real server, so tests can take the server "away", freeze it, and bring it back. */
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  toServer: Buffer[];
  toClient: Buffer[];
  /** The client left while frozen: what it sent still reaches the server at thaw. */
  clientGone: boolean;
}

export class TcpRelay {
  private server: net.Server | null = null;
  private readonly pairs = new Set<Pair>();
  /** Bytes to the server are held. */
  private frozen = false;
  /** Bytes to the clients are held. */
  private mute = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens (on the same port as before after a stop). */
  async start(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
    return this.port;
  }

  /** Refuses new connections and cuts the open ones. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.cut();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Like SIGSTOP of the server: connections are accepted and bytes are
   * taken, but nothing moves either way. What a client sent before it gave
   * up still reaches the server at `thaw`, as a stopped server reads it when
   * it resumes.
   */
  freeze(): void {
    this.frozen = true;
    this.mute = true;
  }

  /** The server runs what it is sent, but its answers are held (until `thaw`, or lost at `cut`). */
  holdAnswers(): void {
    this.mute = true;
  }

  thaw(): void {
    this.frozen = false;
    this.mute = false;
    for (const p of this.pairs) {
      for (const d of p.toServer.splice(0)) p.upstream.write(d);
      const back = p.toClient.splice(0);
      if (p.clientGone) p.upstream.end();
      else for (const d of back) p.client.write(d);
    }
  }

  /** Cuts every open connection at once (and thaws): a connection lost mid-statement. */
  cut(): void {
    this.frozen = false;
    this.mute = false;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.target);
    const p: Pair = { client, upstream, toServer: [], toClient: [], clientGone: false };
    this.pairs.add(p);
    for (const s of [client, upstream]) s.on('error', () => undefined);
    client.on('data', (d: Buffer) => (this.frozen ? p.toServer.push(d) : upstream.write(d)));
    upstream.on('data', (d: Buffer) => {
      if (this.mute) p.toClient.push(d);
      else if (!p.clientGone) client.write(d);
    });
    client.on('close', () => {
      p.clientGone = true;
      if (!this.frozen) {
        upstream.destroy();
        this.pairs.delete(p);
      }
    });
    upstream.on('close', () => {
      client.destroy();
      this.pairs.delete(p);
    });
  }
}
