import type { ProposeResult } from './admin';
import { http } from './http';
import type { InstalledPlugin, PluginCatalog, PluginInstall, PluginProposal, PluginTheme } from './models';

const plugin = (id: string) => '/plugins/' + encodeURIComponent(id);

export const getPluginCatalog = (signal?: AbortSignal) => http.request<PluginCatalog>('/plugins/catalog', { signal });

export const listInstalledPlugins = (signal?: AbortSignal) =>
  http.request<{ plugins: InstalledPlugin[] }>('/plugins/installed', { signal }).then((r) => r.plugins);

export const listPluginProposals = (signal?: AbortSignal) =>
  http.request<{ proposals: PluginProposal[] }>('/plugins/proposals', { signal }).then((r) => r.proposals);

/** The enabled, Ready theme plugin (name, palette, logo URL), public; null: the UI's own theme. */
export const getPluginTheme = (signal?: AbortSignal) =>
  http.request<{ theme?: PluginTheme | null }>('/plugins/theme', { signal }).then((r) => r.theme ?? null);

// Every change below is a pull request (or a commit) in the platform
// repository, like template and quota edits.

export const installPlugin = (body: PluginInstall) => http.request<ProposeResult>('/plugins/install', { method: 'POST', body });

export const enablePlugin = (id: string, reason?: string) =>
  http.request<ProposeResult>(plugin(id) + '/enable', { method: 'POST', body: reason ? { reason } : undefined });

export const disablePlugin = (id: string, reason?: string) =>
  http.request<ProposeResult>(plugin(id) + '/disable', { method: 'POST', body: reason ? { reason } : undefined });

export const configurePlugin = (id: string, config: Record<string, unknown>, reason?: string) =>
  http.request<ProposeResult>(plugin(id) + '/config', { method: 'PUT', body: { config, ...(reason ? { reason } : {}) } });

export const approvePluginPermissions = (id: string, approvedPermissions: string[], reason?: string) =>
  http.request<ProposeResult>(plugin(id) + '/permissions', { method: 'PUT', body: { approvedPermissions, ...(reason ? { reason } : {}) } });

export const uninstallPlugin = (id: string, reason?: string) =>
  http.request<ProposeResult>(plugin(id), { method: 'DELETE', body: reason ? { reason } : undefined });
