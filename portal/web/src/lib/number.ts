const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A count or an amount in the user's locale, with at most one decimal: "1,234.5". */
export function formatNumber(n: number): string {
  return oneDecimal.format(n);
}
