import type { PluginRisk, PluginType } from '../../api/models';

/** Each plugin type's colour and name, the same on every page. */
export const pluginTypes: Record<PluginType, { label: string; color: 'primary' | 'secondary' | 'success' | 'warning' | 'info' }> = {
  extension: { label: 'Extension', color: 'primary' },
  webhook: { label: 'Webhook', color: 'info' },
  'api-integration': { label: 'API integration', color: 'secondary' },
  'ui-theme': { label: 'UI theme', color: 'success' },
  cli: { label: 'CLI', color: 'warning' },
};

export const typeLook = (t: string | undefined) => pluginTypes[t as PluginType] ?? { label: t || 'Unknown', color: 'default' as const };

/** A permission's risk as a colour: what an approval hands over. */
export const riskColor: Record<PluginRisk, 'success' | 'warning' | 'error'> = { low: 'success', medium: 'warning', high: 'error' };
