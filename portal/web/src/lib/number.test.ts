import { describe, expect, it } from 'vitest';
import { formatNumber } from './number';

describe('formatNumber', () => {
  it('keeps at most one decimal, in the locale', () => {
    const one = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
    expect(formatNumber(12)).toBe(one.format(12));
    expect(formatNumber(3.14159)).toBe(one.format(3.1));
    expect(formatNumber(1234.56)).toBe(one.format(1234.6));
    expect(formatNumber(0)).toBe('0');
  });
});
