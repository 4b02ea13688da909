/**
 * The PostgreSQL rate-limit buckets pass the same contract as the in-memory ones (each test on a
 * fresh schema), and are shared by replicas; idle buckets are pruned, and a database that does not
 * answer makes a replica count in memory instead of failing the request.
 */
import net from 'node:net';
import { expect, it } from 'vitest';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresRateLimitCounter } from '../../hub-server/adapters/postgres-rate-limit-counter.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeRateLimitCounterContract } from './rate-limit-counter-contract.ts';

async function openCounter(url: string, perMinute: number, options: Parameters<typeof PostgresRateLimitCounter.open>[2] = {}) {
  const db = PostgresDatabase.open(url, { connectTimeoutMs: 1000 });
  try {
    return await PostgresRateLimitCounter.open(db, perMinute, options);
  } finally {
    await db.close(); // the counter holds its own share of the pool
  }
}

describePostgres('PostgresRateLimitCounter', () => {
  describeRateLimitCounterContract(
    'postgres',
    async () => {
      const { url, drop } = await freshSchema();
      return { counter: (perMinute, now) => openCounter(url, perMinute, { now }), cleanup: drop };
    },
    { shared: true },
  );

  it('deletes buckets idle for a minute (they are full again), and keeps the others', async () => {
    const { url, drop } = await freshSchema();
    let now = 5_000_000;
    const counter = await openCounter(url, 10, { now: () => now });
    try {
      for (let i = 0; i < 10; i++) await counter.take('idle');
      now += 30_000;
      await counter.take('busy');
      now += 31_000;
      expect(await counter.prune()).toBe(1);
      expect(await counter.take('idle')).toEqual({ retryAfter: 0, remaining: 9 });
    } finally {
      await counter.close();
      await drop();
    }
  });

  it('counts in memory while PostgreSQL does not answer, instead of failing the request', async () => {
    const { url, drop } = await freshSchema();
    // The counter reaches PostgreSQL through a TCP relay that the test closes: the database "goes away".
    const target = new URL(url);
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const server = net.connect(Number(target.port), target.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayed = new URL(url);
    relayed.port = String((relay.address() as net.AddressInfo).port);
    const fallbacks: unknown[] = [];
    const counter = await openCounter(relayed.toString(), 3, { onFallback: (error) => fallbacks.push(error) });
    try {
      expect(await counter.take('k')).toEqual({ retryAfter: 0, remaining: 2 });
      const closed = new Promise<void>((resolve) => relay.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      // Memory counts from a full bucket; the limit still holds within this replica.
      const decisions = await Promise.all([1, 2, 3, 4].map(() => counter.take('k')));
      expect(decisions.filter((d) => d.retryAfter === 0)).toHaveLength(3);
      expect(fallbacks.length).toBe(4);
    } finally {
      if (relay.listening) relay.close();
      await counter.close();
      await drop();
    }
  });
});
