import { describe, expect, it } from 'vitest';
import { between, formatDateTime, formatDuration, formatMonthDay, formatRelative, formatTime, secondsLeft, shortGoDuration } from './time';

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

  it('says what the caller chose for a missing time, and — for a broken one', () => {
    expect(formatRelative(undefined, now, 'Never')).toBe('Never');
    expect(formatRelative('', now, 'Never')).toBe('Never');
    expect(formatRelative('not a time', now, 'Never')).toBe('—');
  });
});

describe('secondsLeft', () => {
  it.each([
    [12_000, 12],
    [11_001, 12],
    [1, 1],
    [0, 0],
    [-5000, 0],
  ])('%d ms before → %ds', (ms, s) => expect(secondsLeft(1_000_000 + ms, 1_000_000)).toBe(s));
});

describe('shortGoDuration', () => {
  it.each([
    ['8h0m0s', '8h'],
    ['1h30m0s', '1h30m'],
    ['30m0s', '30m'],
    ['45s', '45s'],
    ['1h0m30s', '1h0m30s'],
  ])('%s → %s', (go, short) => expect(shortGoDuration(go)).toBe(short));
});

describe('dates', () => {
  it('formats a day for a chart axis as month-day', () => {
    expect(formatMonthDay('2026-11-29')).toBe('11-29');
  });

  it('gives — or nothing for a missing or broken time, never "Invalid Date"', () => {
    expect(formatDateTime(undefined)).toBe('—');
    expect(formatDateTime('garbage')).toBe('—');
    expect(formatTime(undefined)).toBe('');
    expect(formatTime('garbage')).toBe('');
    expect(formatDateTime('2026-11-29T12:00:00Z')).toMatch(/2026/);
  });

  it('measures between two times, undefined when either is missing', () => {
    expect(between('2026-11-29T12:00:00Z', '2026-11-29T12:00:42Z')).toBe(42_000);
    expect(between(undefined, '2026-11-29T12:00:42Z')).toBeUndefined();
    expect(between('2026-11-29T12:00:00Z', 'garbage')).toBeUndefined();
  });
});
