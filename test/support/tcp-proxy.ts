/**
 * A TCP proxy in front of the real API server, to provoke network faults (a stalled or cut watch,
 * refused connections). It fakes the network, never the API: bytes pass through untouched (TLS
 * end to end).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server?: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; stalled: boolean }>();
  private refusing = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      const pair = { client, upstream, stalled: false };
      this.pairs.add(pair);
      client.on('data', (d) => {
        if (!pair.stalled) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!pair.stalled) client.write(d);
      });
      const close = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close);
      upstream.on('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** Existing connections go silent (bytes are dropped both ways); new ones work. */
  stallExisting(): number {
    for (const p of this.pairs) p.stalled = true;
    return this.pairs.size;
  }

  /** Cuts every existing connection. */
  cutAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
  }

  /** While true, new connections are closed at once (and existing ones cut). */
  setRefusing(on: boolean): void {
    this.refusing = on;
    if (on) this.cutAll();
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
