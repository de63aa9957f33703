/**
 * The service's structured log (pino, JSON lines on stdout). LOG_LEVEL sets the level
 * (default `info`; `silent` in tests unless LOG_LEVEL is set).
 */
import { pino } from 'pino';

export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
  base: { service: 'gpu-runtime' },
});
