/** "ImageCannotStart" → "Image cannot start". */
export function humanizeReason(reason: string | undefined): string {
  if (!reason) return 'Failed';
  const words = reason.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
