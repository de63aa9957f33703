/**
 * Slow consumers on graphql-ws. A client that stops reading (a frozen tab, a stalled proxy) does
 * not make the server buffer without bound: graphql-ws awaits each send, so a stalled socket stops
 * the subscription's pulls and its stream coalesces pending changes to the latest state of each
 * object (src/graphql/stream.ts). What it would still hold, for as long as it stays connected,
 * is that coalesced state and one message; so a connection whose socket has had unsent data
 * continuously for {@link DEFAULT_MAX_STALL_MS} (env WS_STALL_SECONDS), or more than
 * {@link DEFAULT_MAX_BUFFERED_BYTES} unsent (env WS_MAX_BUFFERED_KIB), is closed with
 * {@link SLOW_CONSUMER_CLOSE_CODE}, and its subscriptions' memory released. The client
 * resubscribes and gets the current state first (every subscription starts with it).
 * README "Subscriptions" documents the code.
 */
import type { WebSocket, WebSocketServer } from 'ws';
import { envInt } from '../env';
import { Counter } from 'prom-client';
import { metricsRegistry } from '../metrics';
import { logger } from '../logger';

/** The close code for a dropped slow consumer (an application code, 4000-4999; graphql-ws uses 44xx and 4500). */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

/** Default bound of unsent bytes queued on one connection: 1 MiB (env WS_MAX_BUFFERED_KIB). */
export const DEFAULT_MAX_BUFFERED_BYTES = 1 << 20;
/**
 * Default time a connection may keep unsent data without the client reading: 10 s (env
 * WS_STALL_SECONDS). Below graphql-ws's keep-alive (a ping every 12 s; a client that answers no
 * pong is terminated without a close frame), so a stalled client is closed with 4008 first and
 * finds the reason when it reads again.
 */
export const DEFAULT_MAX_STALL_MS = 10_000;

const dropped = new Counter({
  name: 'gpu_runtime_subscriptions_slow_consumers_dropped_total',
  help: 'graphql-ws connections closed because the client stopped reading (close code 4008)',
  registers: [metricsRegistry],
});

export interface SlowConsumerOptions {
  maxBufferedBytes: number;
  maxStallMs: number;
  /** How often connections are checked, in ms (default a fifth of maxStallMs, at most 5 s). */
  intervalMs?: number;
}

/** The bounds from WS_MAX_BUFFERED_KIB and WS_STALL_SECONDS. @throws on a value that is not a positive integer. */
export function slowConsumerOptionsFromEnv(): SlowConsumerOptions {
  return { maxBufferedBytes: envInt('WS_MAX_BUFFERED_KIB', DEFAULT_MAX_BUFFERED_BYTES / 1024, 1) * 1024, maxStallMs: envInt('WS_STALL_SECONDS', DEFAULT_MAX_STALL_MS / 1000, 1) * 1000 };
}

/**
 * Checks every connection of `wss` periodically and closes the slow ones (see the module text).
 * @returns a function that stops the checks.
 */
export function dropSlowConsumers(wss: WebSocketServer, opts: SlowConsumerOptions): () => void {
  const stalledSince = new WeakMap<WebSocket, number>();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const socket of wss.clients) {
      if (socket.readyState !== socket.OPEN) continue;
      if (socket.bufferedAmount === 0) {
        stalledSince.delete(socket);
        continue;
      }
      const since = stalledSince.get(socket) ?? now;
      stalledSince.set(socket, since);
      const tooMuch = socket.bufferedAmount > opts.maxBufferedBytes;
      if (!tooMuch && now - since < opts.maxStallMs) continue;
      const why = tooMuch ? `more than ${Math.round(opts.maxBufferedBytes / 1024)} KiB unsent` : `not reading for ${Math.round((now - since) / 1000)} s`;
      logger.warn({ bufferedBytes: socket.bufferedAmount, stalledMs: now - since }, `graphql-ws client ${why}: connection closed (slow consumer)`);
      dropped.inc();
      socket.close(SLOW_CONSUMER_CLOSE_CODE, `Slow consumer: ${why}; resubscribe`);
      // A client that reads nothing never answers the close handshake either.
      setTimeout(() => socket.terminate(), 5000).unref();
    }
  }, opts.intervalMs ?? Math.min(5000, Math.max(100, opts.maxStallMs / 5)));
  timer.unref();
  return () => clearInterval(timer);
}
