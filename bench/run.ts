/**
 * npm run bench: figures for the hot paths, printed as a table (ops/s, mean and p99 latency),
 * plus the memory a slow subscriber can hold and the in-process cost of fanning one event out to
 * N subscribers (bench/fanout.ts). Uses tinybench.
 */
import { Bench } from 'tinybench';
import { addReconcileBenchmarks } from './reconcile';
import { subscriberMemory } from './subscriber-memory';
import { fanout } from './fanout';

const bench = new Bench({ time: 1000, warmupTime: 200 });
addReconcileBenchmarks(bench);
await bench.run();
console.table(bench.table());
console.table(await subscriberMemory());
console.table(await fanout());
