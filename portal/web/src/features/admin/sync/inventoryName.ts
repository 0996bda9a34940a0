/** "Template/firefox" from an inventory ID "streamspace_firefox_stream.space_Template". */
export function inventoryName(id: string): string {
  const parts = id.split('_');
  return parts.length === 4 ? `${parts[3]}/${parts[1]}` : id;
}
