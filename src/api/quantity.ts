/**
 * Kubernetes resource quantities (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/):
 * parse, validate and compare exactly (bigint rationals, no floating point).
 */

const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** An exact quantity: numerator / denominator. */
export interface Quantity {
  num: bigint;
  den: bigint;
  text: string;
}

/**
 * Parses a quantity such as `20Gi`, `1.5G`, `500m`, `1e3`.
 * @returns the quantity, or undefined when `s` is not a Kubernetes quantity.
 */
export function parseQuantity(s: string): Quantity | undefined {
  const m = QUANTITY.exec(s.trim());
  if (!m || s.trim() !== s) return undefined;
  const [, numText = '', suffix = ''] = m;
  const negative = numText.startsWith('-');
  const digits = numText.replace(/^[+-]/, '');
  const [intPart = '', fracPart = ''] = digits.split('.');
  let num = BigInt((intPart || '0') + fracPart);
  let den = 10n ** BigInt(fracPart.length);
  if (suffix in BINARY) {
    num *= 2n ** BigInt(BINARY[suffix]!);
  } else {
    const exp = suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1));
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  if (negative) num = -num;
  return { num, den, text: s };
}

/** -1, 0 or 1 as a < b, a = b, a > b. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

/** Whole bytes (rounded up) of a quantity, for display and arithmetic on sizes. */
export function quantityToBytes(q: Quantity): bigint {
  return (q.num + q.den - 1n) / q.den;
}
