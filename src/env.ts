/**
 * The service's settings from the environment (README "Environment"), read and checked with
 * env-var: a value the variable does not take is an `EnvVarError` naming the variable and what it
 * takes (`env-var: "PORT" should be a valid port number`), which stops `npm start` / the pod with
 * that message instead of running on NaN. An empty or blank value counts as unset, so the default
 * applies (a manifest's `value: ""` means "not set", as it does for Kubernetes itself).
 *
 * Read when a component starts, not when a module loads: a test or a benchmark that sets a
 * variable before starting the service is heard.
 */
// env-var is CommonJS without exports Node can name statically: its default export, not a named import.
import envVar from 'env-var';

/** The accessor of variable `name` (`.default('8080').asPortNumber()`, `.asFloatPositive()`, …). */
export function env(name: string) {
  const value = process.env[name];
  return envVar.from(value === undefined || value.trim() === '' ? {} : { [name]: value }).get(name);
}

/**
 * An integer variable within `[min, max]`, or `fallback` when unset.
 * @throws EnvVarError naming the variable when it is not an integer in range.
 */
export function envInt(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = env(name).default(String(fallback)).asInt();
  if (n < min || n > max) throw new RangeError(`env-var: "${name}" should be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, but was ${n}`);
  return n;
}

/**
 * A number of seconds ≥ 0 (fractions allowed), in ms; `fallbackSeconds` when unset.
 * @throws EnvVarError naming the variable when it is not a number ≥ 0.
 */
export function envSecondsAsMs(name: string, fallbackSeconds: number): number {
  return env(name).default(String(fallbackSeconds)).asFloatPositive() * 1000;
}
