import { describe, expect, it } from 'vitest';
import { formatDuration, formatRelative } from './time';

describe('formatDuration', () => {
  it.each([
    [42_000, '42s'],
    [96_000, '1m 36s'],
    [120_000, '2m'],
    [26 * 60_000 + 5000, '26m'],
    [3 * 3600_000 + 5 * 60_000, '3h 5m'],
    [2 * 86400_000 + 4 * 3600_000, '2d 4h'],
  ])('%d ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('formatRelative', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  it('says in or ago', () => {
    expect(formatRelative('2026-11-29T12:12:00Z', now)).toBe('in 12m');
    expect(formatRelative('2026-11-29T11:20:00Z', now)).toBe('40m ago');
    expect(formatRelative('2026-11-29T12:00:02Z', now)).toBe('just now');
    expect(formatRelative(undefined, now)).toBe('—');
  });
});
